import {EditorView, basicSetup} from "codemirror";
import {EditorState, Compartment} from "@codemirror/state";
import {python} from "@codemirror/lang-python";
import {cpp} from "@codemirror/lang-cpp";
import {java} from "@codemirror/lang-java";
import {javascript} from "@codemirror/lang-javascript";
import {rust} from "@codemirror/lang-rust";

import {go} from "@codemirror/lang-go";
import {StreamLanguage} from "@codemirror/language";
import {ruby} from "@codemirror/legacy-modes/mode/ruby";
import {shell} from "@codemirror/legacy-modes/mode/shell";
import {csharp} from "@codemirror/legacy-modes/mode/clike";
export {EditorView, basicSetup, EditorState, Compartment};
export const languages = {
  python: () => python(), cpp: () => cpp(), cpp20: () => cpp(), c: () => cpp(),
  java: () => java(), javascript: () => javascript(), typescript: () => javascript({typescript: true}),
  rust: () => rust(), go: () => go(),
  ruby: () => StreamLanguage.define(ruby), bash: () => StreamLanguage.define(shell), csharp: () => StreamLanguage.define(csharp),
};
