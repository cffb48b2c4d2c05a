package bench

// Programs returns the three benchmark programs: Python hello world, C++
// hello world, and a C++ program that includes <bits/stdc++.h> and adds two
// numbers from stdin (the typical shape of a contest solution).
func Programs() []Program {
	return []Program{
		{
			Name:     "python-hello",
			Language: "python",
			Code:     "print(\"hello world\")\n",
			Want:     "hello world\n",
		},
		{
			Name:     "cpp-hello",
			Language: "cpp",
			Code:     "#include <iostream>\nint main() { std::cout << \"hello world\\n\"; }\n",
			Want:     "hello world\n",
		},
		{
			Name:     "cpp-sum",
			Language: "cpp",
			Code:     "#include <bits/stdc++.h>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a + b << \"\\n\"; }\n",
			Input:    "40 2\n",
			Want:     "42\n",
		},
	}
}

// LanguageHellos are hello world in each further language the service
// runs, for `--programs` (only the service's methods run them); they are
// not measured by default.
func LanguageHellos() []Program {
	hello := func(lang, code string) Program {
		return Program{Name: lang + "-hello", Language: lang, Code: code, Want: "hello world\n"}
	}
	return []Program{
		hello("c", "#include <stdio.h>\nint main(void) { puts(\"hello world\"); return 0; }\n"),
		hello("java", "public class Main { public static void main(String[] a) { System.out.println(\"hello world\"); } }\n"),
		hello("javascript", "console.log(\"hello world\")\n"),
		hello("ruby", "puts \"hello world\"\n"),
		hello("php", "<?php echo \"hello world\\n\";\n"),
		hello("bash", "echo hello world\n"),
		hello("rust", "fn main() { println!(\"hello world\"); }\n"),
		hello("go", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello world\") }\n"),
		hello("typescript", "const greeting: string = \"hello world\";\nconsole.log(greeting);\n"),
		hello("csharp", "class Program { static void Main() { System.Console.WriteLine(\"hello world\"); } }\n"),
	}
}

// ProgramNames lists the names of Programs, in order: the default.
func ProgramNames() []string { return names(Programs()) }

// AllPrograms is Programs, then LanguageHellos.
func AllPrograms() []Program { return append(Programs(), LanguageHellos()...) }

// AllProgramNames lists the names of AllPrograms, in order: what
// --programs may name.
func AllProgramNames() []string { return names(AllPrograms()) }

func names(ps []Program) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}
