// The playground: pick a language, edit, run or judge through the same API
// as any client (POST /run, POST /judge), and show what came back. No
// inline script or style: the page's Content-Security-Policy allows only
// this origin's scripts, and CodeMirror's style elements carry the nonce
// the server put in the page.
import {EditorView, basicSetup, EditorState, Compartment, languages} from "/playground/editor.js";

const $ = (id) => document.getElementById(id);
// What the page's Content-Security-Policy refused, for the browser test.
window.codeexecViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.codeexecViolations.push(e.violatedDirective + " " + e.blockedURI));
const hello = {
  python: 'name = input()\nprint(f"hello, {name}")\n',
  c: '#include <stdio.h>\n\nint main(void) {\n    char name[100];\n    if (scanf("%99s", name) == 1) printf("hello, %s\\n", name);\n    return 0;\n}\n',
  cpp: '#include <bits/stdc++.h>\n\nint main() {\n    std::string name;\n    std::cin >> name;\n    std::cout << "hello, " << name << "\\n";\n}\n',
  java: 'import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n        String name = new Scanner(System.in).next();\n        System.out.println("hello, " + name);\n    }\n}\n',
  csharp: 'using System;\n\nclass Program {\n    static void Main() {\n        string name = Console.ReadLine();\n        Console.WriteLine("hello, " + name);\n    }\n}\n',
  javascript: 'const name = require("fs").readFileSync(0, "utf8").trim();\nconsole.log(`hello, ${name}`);\n',
  typescript: 'import * as fs from "fs";\nconst name: string = fs.readFileSync(0, "utf8").trim();\nconsole.log(`hello, ${name}`);\n',
  go: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar name string\n\tfmt.Scan(&name)\n\tfmt.Println("hello, " + name)\n}\n',
  rust: 'use std::io::Read;\n\nfn main() {\n    let mut name = String::new();\n    std::io::stdin().read_to_string(&mut name).unwrap();\n    println!("hello, {}", name.trim());\n}\n',
  ruby: 'name = gets.strip\nputs "hello, #{name}"\n',
  php: '<?php\n$name = trim(fgets(STDIN));\necho "hello, $name\\n";\n',
  bash: 'read -r name\necho "hello, $name"\n',
};
hello.cpp20 = hello.cpp;

const nonce = document.querySelector('meta[name="codeexec-style-nonce"]').content;
const language = new Compartment();
const view = new EditorView({
  parent: $("editor"),
  state: EditorState.create({doc: hello.python, extensions: [basicSetup, language.of([]), EditorView.cspNonce.of(nonce)]}),
});
// For tests and for the curious: the editor's view.
window.codeexecEditor = view;

function headers() {
  const h = {"Content-Type": "application/json"};
  const key = $("key").value.trim();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

async function call(method, path, body) {
  const resp = await fetch(path, {method, headers: headers(), body: body && JSON.stringify(body)});
  let data = null;
  try { data = await resp.json(); } catch { /* not JSON */ }
  if (resp.status === 401) $("key-field").hidden = false;
  return {status: resp.status, data};
}

let runtimes = [];
async function loadRuntimes() {
  const {status, data} = await call("GET", "/runtimes");
  if (status !== 200) {
    setSummary(status === 401 ? "This service needs an API key: enter it above." : "GET /runtimes: " + status + " " + (data && data.error || ""), false);
    return;
  }
  runtimes = data.runtimes;
  const sel = $("language");
  sel.replaceChildren(...runtimes.map((rt) => new Option(rt.language, rt.language)));
  sel.value = runtimes.some((rt) => rt.language === "python") ? "python" : runtimes[0].language;
  setLanguage(sel.value, true);
}

function setLanguage(name, keepCode) {
  const rt = runtimes.find((r) => r.language === name);
  $("version").textContent = rt ? rt.version : "";
  const mk = languages[name];
  view.dispatch({effects: language.reconfigure(mk ? mk() : [])});
  if (!keepCode || view.state.doc.length === 0) {
    view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: hello[name] || ""}});
  }
}

function addTest(input = "", expected = "") {
  const div = document.createElement("div");
  div.className = "test";
  const n = $("tests").children.length + 1;
  div.innerHTML = '<div class="test-head"><span></span><button class="remove">remove</button></div>' +
    '<label>input <textarea class="input" rows="2" spellcheck="false"></textarea></label>' +
    '<label>expected output <textarea class="expected" rows="2" spellcheck="false"></textarea></label>';
  div.querySelector("span").textContent = "test " + n;
  div.querySelector(".input").value = input;
  div.querySelector(".expected").value = expected;
  div.querySelector(".remove").addEventListener("click", () => div.remove());
  $("tests").append(div);
}

function setSummary(text, ok) {
  const s = $("summary");
  s.textContent = text;
  s.className = ok ? "ok" : "bad";
}

function figures(rows) {
  $("figures").replaceChildren(...rows.filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    const td = document.createElement("td");
    th.textContent = k;
    td.textContent = v;
    tr.append(th, td);
    return tr;
  }));
}

function clear() {
  for (const id of ["stdout", "stderr", "compile"]) $(id).textContent = "";
  $("figures").replaceChildren();
  $("verdicts").hidden = true;
  $("verdicts").tBodies[0].replaceChildren();
  setSummary("running…", true);
}

const kib = (b) => (b / 1024).toFixed(0) + " KiB";

async function run() {
  clear();
  $("run").disabled = true;
  try {
    const {status, data} = await call("POST", "/run", {language: $("language").value, code: view.state.doc.toString(), input: $("stdin").value});
    if (status !== 200) return setSummary(status + ": " + (data && data.error || "error"), false);
    setSummary(data.status, data.status === "success");
    figures([["exit code", data.exit_code], ["signal", data.signal], ["time", data.time_ms + " ms"], ["CPU time", data.cpu_time_ms + " ms"],
      ["memory peak", kib(data.memory_peak_bytes)], ["compile", data.compile_ms ? data.compile_ms + " ms" : undefined]]);
    $("stdout").textContent = data.stdout + (data.stdout_truncated ? "\n[truncated]" : "");
    $("stderr").textContent = data.stderr + (data.stderr_truncated ? "\n[truncated]" : "");
    $("compile").textContent = data.compile_output || "";
  } finally {
    $("run").disabled = false;
  }
}

async function judge() {
  clear();
  const tests = [...$("tests").children].map((d) => ({input: d.querySelector(".input").value, expected_output: d.querySelector(".expected").value}));
  if (tests.length === 0) return setSummary("Add a test first.", false);
  $("judge").disabled = true;
  try {
    const {status, data} = await call("POST", "/judge", {language: $("language").value, code: view.state.doc.toString(), tests, return_output: true});
    if (status !== 200) return setSummary(status + ": " + (data && data.error || "error"), false);
    setSummary(data.verdict + " (" + data.passed + "/" + data.total + ")", data.verdict === "accepted");
    figures([["compile", data.compile_ms + " ms"]]);
    $("compile").textContent = data.compile_output || "";
    const body = $("verdicts").tBodies[0];
    for (const t of data.tests) {
      const tr = document.createElement("tr");
      for (const v of [t.index + 1, t.status, t.time_ms + " ms", kib(t.memory_peak_bytes), t.message || ""]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.append(td);
      }
      tr.className = t.status === "accepted" ? "ok" : "bad";
      body.append(tr);
    }
    $("verdicts").hidden = false;
    const first = data.tests.find((t) => t.status !== "accepted");
    if (first) {
      $("stdout").textContent = first.stdout || "";
      $("stderr").textContent = first.stderr || "";
    }
  } finally {
    $("judge").disabled = false;
  }
}

function tab(name) {
  $("tab-run").setAttribute("aria-selected", String(name === "run"));
  $("tab-judge").setAttribute("aria-selected", String(name === "judge"));
  $("run-pane").hidden = name !== "run";
  $("judge-pane").hidden = name !== "judge";
}

$("language").addEventListener("change", (e) => setLanguage(e.target.value, false));
$("run").addEventListener("click", run);
$("judge").addEventListener("click", judge);
$("add-test").addEventListener("click", () => addTest());
$("tab-run").addEventListener("click", () => tab("run"));
$("tab-judge").addEventListener("click", () => tab("judge"));
$("key").addEventListener("change", loadRuntimes);
$("stdin").value = "world\n";
addTest("world\n", "hello, world\n");
loadRuntimes();
