// testlib.h for codeexec: the part of testlib's checker API that checkers
// use, written for this project (testlib itself is not packaged by any
// registry these machines reach). A checker written against testlib
// compiles unchanged if it uses only what is here; docs/judge.md lists it.
//
// Protocol (testlib's): the checker runs as `checker input output answer`.
// registerTestlibCmd opens the three files as the streams inf, ouf and ans.
// quitf(_ok | _wa | _pe | _fail, ...) prints "ok ...", "wrong answer ...",
// "wrong output format ..." or "FAIL ..." to stderr and exits with 0, 1, 2
// or 3. A read that fails on the contestant's output (ouf) is a
// presentation error; on the input or the answer (inf, ans) it is the
// checker's own failure (_fail). Accepting output that has more than
// whitespace left is a presentation error ("Extra information in the output
// file"), as in testlib.
#ifndef CODEEXEC_TESTLIB_H
#define CODEEXEC_TESTLIB_H

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

enum TResult { _ok = 0, _wa = 1, _pe = 2, _fail = 3, _dirt = 4, _points = 7, _unexpected_eof = 8 };

#define OK_EXIT_CODE 0
#define WA_EXIT_CODE 1
#define PE_EXIT_CODE 2
#define FAIL_EXIT_CODE 3

namespace codeexec_testlib {

inline std::string vformat(const char* fmt, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    int n = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    if (n < 0) return fmt;
    std::string s(static_cast<size_t>(n) + 1, '\0');
    std::vsnprintf(&s[0], s.size(), fmt, ap);
    s.resize(static_cast<size_t>(n));
    return s;
}

inline bool isBlank(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace codeexec_testlib

inline std::string format(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string s = codeexec_testlib::vformat(fmt, ap);
    va_end(ap);
    return s;
}

void quit(TResult result, const std::string& msg);

struct InStream {
    std::FILE* file = nullptr;
    std::string name;
    bool contestant = false;  // ouf: read errors are the contestant's (presentation error)
    int line = 1;

    void init(const char* path, const std::string& streamName, bool isContestant) {
        name = streamName;
        contestant = isContestant;
        file = std::fopen(path, "rb");
        if (!file) ::quit(_fail, format("cannot open %s (%s): %s", streamName.c_str(), path, std::strerror(errno)));
    }

    int peek() {
        int c = std::getc(file);
        if (c != EOF) std::ungetc(c, file);
        return c;
    }
    int get() {
        int c = std::getc(file);
        if (c == '\n') line++;
        return c;
    }

    // quit ends the checker for a problem found in this stream: the
    // contestant's output's problems are theirs, the others the checker's.
    void quit(TResult result, const std::string& msg) {
        if (!contestant && result != _ok) result = _fail;
        ::quit(result, msg);
    }
    void quitf(TResult result, const char* fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        std::string msg = codeexec_testlib::vformat(fmt, ap);
        va_end(ap);
        quit(result, msg);
    }
    [[noreturn]] void readError(const std::string& what) {
        quit(_pe, format("%s, line %d: %s", name.c_str(), line, what.c_str()));
        std::exit(FAIL_EXIT_CODE);  // not reached
    }

    void skipBlanks() {
        while (codeexec_testlib::isBlank(peek())) get();
    }
    bool eof() { return peek() == EOF; }
    bool seekEof() {
        skipBlanks();
        return eof();
    }
    bool eoln() {
        int c = peek();
        return c == '\n' || c == '\r' || c == EOF;
    }
    bool seekEoln() {
        while (peek() == ' ' || peek() == '\t') get();
        return eoln();
    }

    std::string readToken() {
        skipBlanks();
        if (eof()) readError("unexpected end of file, a token was expected");
        std::string s;
        while (!eof() && !codeexec_testlib::isBlank(peek())) s += static_cast<char>(get());
        return s;
    }
    std::string readWord() { return readToken(); }
    std::string readToken(const std::string& expectedName) {
        (void)expectedName;
        return readToken();
    }

    std::string readLine() {
        if (eof()) readError("unexpected end of file, a line was expected");
        std::string s;
        while (!eof() && peek() != '\n') s += static_cast<char>(get());
        if (!s.empty() && s.back() == '\r') s.pop_back();
        if (peek() == '\n') get();
        return s;
    }
    std::string readString() { return readLine(); }

    long long readLong() {
        std::string t = readToken();
        size_t i = (t[0] == '-' || t[0] == '+') ? 1 : 0;
        if (i == t.size() || t.size() - i > 19 || !std::all_of(t.begin() + i, t.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            (t.size() - i > 1 && t[i] == '0'))
            readError(format("expected an integer, found \"%s\"", t.c_str()));
        errno = 0;
        long long v = std::strtoll(t.c_str(), nullptr, 10);
        if (errno == ERANGE) readError(format("integer \"%s\" is out of range", t.c_str()));
        return v;
    }
    long long readLong(long long minv, long long maxv, const std::string& varName = "") {
        long long v = readLong();
        if (v < minv || v > maxv)
            readError(format("%s=%lld is out of [%lld, %lld]", varName.empty() ? "integer" : varName.c_str(), v, minv, maxv));
        return v;
    }
    int readInt() {
        long long v = readLong();
        if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
            readError(format("integer %lld does not fit in int", v));
        return static_cast<int>(v);
    }
    int readInt(int minv, int maxv, const std::string& varName = "") {
        return static_cast<int>(readLong(minv, maxv, varName));
    }
    std::vector<int> readInts(int n, int minv, int maxv, const std::string& varName = "") {
        std::vector<int> v(static_cast<size_t>(std::max(n, 0)));
        for (auto& x : v) x = readInt(minv, maxv, varName);
        return v;
    }
    std::vector<long long> readLongs(int n, long long minv, long long maxv, const std::string& varName = "") {
        std::vector<long long> v(static_cast<size_t>(std::max(n, 0)));
        for (auto& x : v) x = readLong(minv, maxv, varName);
        return v;
    }

    double readDouble() {
        std::string t = readToken();
        char* end = nullptr;
        errno = 0;
        double v = std::strtod(t.c_str(), &end);
        if (end == t.c_str() || *end != '\0' || std::isnan(v) || std::isinf(v))
            readError(format("expected a number, found \"%s\"", t.c_str()));
        return v;
    }
    double readDouble(double minv, double maxv, const std::string& varName = "") {
        double v = readDouble();
        if (v < minv || v > maxv)
            readError(format("%s=%g is out of [%g, %g]", varName.empty() ? "number" : varName.c_str(), v, minv, maxv));
        return v;
    }
    double readReal() { return readDouble(); }
    double readReal(double minv, double maxv, const std::string& varName = "") { return readDouble(minv, maxv, varName); }

    char readChar() {
        if (eof()) readError("unexpected end of file, a character was expected");
        return static_cast<char>(get());
    }
    char readChar(char c) {
        char got = readChar();
        if (got != c) readError(format("expected '%c', found '%c'", c, got));
        return got;
    }
    void readSpace() { readChar(' '); }
    void readEoln() {
        if (peek() == '\r') get();
        if (peek() != '\n') readError("expected the end of the line");
        get();
    }
    void readEof() {
        if (!eof()) readError("expected the end of the file");
    }
};

inline InStream inf, ouf, ans;

inline void quit(TResult result, const std::string& msg) {
    if (result == _ok && ouf.file && !ouf.seekEof()) {
        result = _pe;
        std::fprintf(stderr, "wrong output format Extra information in the output file\n");
        std::exit(PE_EXIT_CODE);
    }
    const char* word = "FAIL ";
    int code = FAIL_EXIT_CODE;
    switch (result) {
    case _ok: word = "ok "; code = OK_EXIT_CODE; break;
    case _wa: word = "wrong answer "; code = WA_EXIT_CODE; break;
    case _pe: case _dirt: case _unexpected_eof: word = "wrong output format "; code = PE_EXIT_CODE; break;
    default: break;
    }
    std::fprintf(stderr, "%s%s\n", word, msg.c_str());
    std::exit(code);
}

inline void quitf(TResult result, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string msg = codeexec_testlib::vformat(fmt, ap);
    va_end(ap);
    quit(result, msg);
}

inline void ensuref(bool cond, const char* fmt, ...) {
    if (cond) return;
    va_list ap;
    va_start(ap, fmt);
    std::string msg = codeexec_testlib::vformat(fmt, ap);
    va_end(ap);
    quit(_fail, msg);
}
#define ensure(cond) ensuref((cond), "%s", "condition failed: " #cond)

inline void registerTestlibCmd(int argc, char* argv[]) {
    if (argc < 4) {
        std::fprintf(stderr, "FAIL usage: %s input output answer\n", argc > 0 ? argv[0] : "checker");
        std::exit(FAIL_EXIT_CODE);
    }
    inf.init(argv[1], "input", false);
    ouf.init(argv[2], "output", true);
    ans.init(argv[3], "answer", false);
}

inline bool doubleCompare(double expected, double result, double maxError) {
    if (std::isnan(expected) || std::isnan(result)) return std::isnan(expected) && std::isnan(result);
    if (std::isinf(expected) || std::isinf(result)) return expected == result;
    double d = std::fabs(expected - result);
    return d <= maxError + 1e-15 || d <= std::fabs(expected) * maxError + 1e-15;
}

inline std::string englishEnding(int x) {
    x %= 100;
    if (x / 10 == 1) return "th";
    switch (x % 10) {
    case 1: return "st";
    case 2: return "nd";
    case 3: return "rd";
    default: return "th";
    }
}

template <typename T>
std::string vtos(const T& t) {
    std::ostringstream s;
    s << t;
    return s.str();
}

inline std::string upperCase(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}
inline std::string lowerCase(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}
inline std::string compress(const std::string& s) { return s.size() <= 64 ? s : s.substr(0, 30) + "..." + s.substr(s.size() - 31); }

#endif
