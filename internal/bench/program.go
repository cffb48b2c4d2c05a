package bench

// Program is one benchmark program: what to send to POST /run and the exact
// stdout a correct run prints.
type Program struct {
	Name     string `json:"name"`
	Language string `json:"language"` // as POST /run names it: "python" or "cpp"
	Code     string `json:"code"`
	Input    string `json:"input,omitempty"`
	Want     string `json:"want"`
}

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

// ProgramNames lists the names of Programs, in order.
func ProgramNames() []string {
	var names []string
	for _, p := range Programs() {
		names = append(names, p.Name)
	}
	return names
}
