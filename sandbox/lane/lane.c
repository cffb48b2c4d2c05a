/*
 * codeexec-lane: the init of a judge lane's sandbox.
 *
 * It runs as PID 1 of the sandbox, as the sandbox user, and starts each test
 * the service asks for as a fresh child process: the service then needs no
 * task.Exec through containerd, the shim and the OCI runtime per test. The
 * protocol is internal/laneagent's (protocol.go): requests arrive as frames
 * on stdin, answers leave as frames on stdout. Each frame is a kind byte, a
 * 4-byte big-endian length and the payload.
 *
 * It is C, not Go, for three reasons: it is one thread, so it holds exactly
 * one slot of the sandbox's pids limit and never needs another (a Go
 * program creates threads as it goes, and dies when a test has used up the
 * pids limit); it adds about 100 KiB, not 2 MiB, to every test's memory
 * figure; and every signal disposition is in its hands, so a test starts
 * with the defaults.
 *
 * Built statically by `make build` (bin/codeexec-lane); the service copies
 * it into each lane's data directory, read-only to the sandbox.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

enum {
	READY = 'R', REQUEST = 'Q', STARTED = 'S', FAILED = 'F',
	STDOUT = 'O', STDERR = 'E', EXIT = 'X', DONE = 'D',
};

#define MAX_REQUEST (1 << 20)
#define CHUNK (32 << 10)
#define MAX_ARGS (256 << 10)

static char buf[CHUNK];

static void die(const char *what) {
	fprintf(stderr, "codeexec-lane: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void write_all(int fd, const void *p, size_t n) {
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write to the service"); /* the service is gone */
		c += w;
		n -= (size_t)w;
	}
}

static void put32(unsigned char *b, uint32_t v) {
	b[0] = v >> 24; b[1] = v >> 16; b[2] = v >> 8; b[3] = v;
}

static void send_frame(int kind, const void *payload, uint32_t n) {
	unsigned char h[5];
	h[0] = (unsigned char)kind;
	put32(h + 1, n);
	write_all(1, h, sizeof h);
	if (n > 0)
		write_all(1, payload, n);
}

static void send_failed(const char *what, int err) {
	char msg[512];
	int n = snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
	send_frame(FAILED, msg, (uint32_t)n);
}

/* read_full reads exactly n bytes; 0 at a clean end of input before any. */
static int read_full(int fd, void *p, size_t n) {
	char *c = p;
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, c + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read a request");
		if (r == 0) {
			if (got == 0)
				return 0;
			errno = EPROTO;
			die("read a request");
		}
		got += (size_t)r;
	}
	return 1;
}

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The current test. */
static pid_t child;
static int64_t started_at, ended_at, exited_at;

/* The forking parent of an interpreter (docs/judge.md, "Forked
 * interpreters"): started by the first request that names it, kept for
 * the next ones that name the same command. zsock is the agent's end of
 * their socket (SOCK_SEQPACKET), the parent's fd 3. */
static pid_t zpid;
static int zsock = -1;
static char zcmd[4096];
static size_t zcmd_len;

/* zygote_gone forgets a forking parent that ended (reap reaped it). */
static void zygote_gone(void) {
	if (zsock >= 0)
		close(zsock);
	zpid = 0;
	zsock = -1;
	zcmd_len = 0;
}

/* read_proc reads /proc/PID/NAME into text (size bytes at most, NUL
 * ended): 0 when it cannot be read. */
static int read_proc(pid_t pid, const char *name, char *text, size_t size) {
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, text, size - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = 0;
	return 1;
}

/* exec_start reads, from /proc/PID/sched, when the scheduler last ran the
 * process, in nanoseconds of the scheduler's clock: for a zombie, when it
 * exited, without the agent's own wake-up after it. Two sandboxes' agents
 * read the same clock, so the service can tell which of two processes
 * ended first (an interactive test's two sides). 0 when it cannot be read
 * (a kernel without CONFIG_SCHED_DEBUG). */
static int64_t exec_start(pid_t pid) {
	char text[4096];
	if (!read_proc(pid, "sched", text, sizeof text))
		return 0;
	char *p = strstr(text, "se.exec_start");
	if (p == NULL || (p = strchr(p, ':')) == NULL)
		return 0;
	p++;
	while (*p == ' ')
		p++;
	/* milliseconds, a dot, six digits of fraction */
	int64_t ms = 0, frac = 0;
	int digits = 0;
	for (; *p >= '0' && *p <= '9'; p++)
		ms = ms * 10 + (*p - '0');
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
			frac = frac * 10 + (*p - '0');
	for (; digits < 6; digits++)
		frac *= 10;
	return ms * 1000000 + frac;
}

/* reap waits for every child that has ended, the current test's first
 * process and every orphan alike (as PID 1, the agent is the parent of every
 * process whose parent died). It returns 1 when the test's first process
 * was among them, with its status in *status. */
static int reap(int *status, int64_t *elapsed) {
	int found = 0;
	for (;;) {
		/* Each zombie is looked at before it is reaped (WNOWAIT): the
		 * test's first process is still there to say when it exited, by
		 * the scheduler's clock. */
		siginfo_t si;
		si.si_pid = 0;
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
			if (errno == EINTR)
				continue;
			return found;
		}
		if (si.si_pid == 0)
			return found;
		pid_t pid = si.si_pid;
		int is_test = child > 0 && pid == child;
		int64_t at = is_test ? exec_start(pid) : 0;
		int ws;
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
		if (pid == zpid)
			zygote_gone();
		if (is_test) {
			*status = ws;
			ended_at = now_ns();
			*elapsed = ended_at - started_at;
			exited_at = at;
			child = 0;
			found = 1;
		}
	}
}

static sigset_t chld;
static int sfd; /* a signalfd of SIGCHLD, which stays blocked */

/* default_signals gives every signal its default action and unblocks it, in
 * a child before it execs the test. exec resets caught signals by itself,
 * but not ignored ones, and the agent may have inherited those (libc's
 * sigaction refuses its reserved real-time signals, so the raw system call
 * sets them). */
static void default_signals(void) {
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		uint64_t mask;
	} dfl = {SIG_DFL, 0, NULL, 0};
	for (int s = 1; s <= 64; s++)
		if (s != SIGKILL && s != SIGSTOP)
			syscall(SYS_rt_sigaction, s, &dfl, NULL, sizeof dfl.mask);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* open_fifos opens, in the child, the FIFOs of an interactive test as its
 * stdin and stdout, in the order given: each open waits for the other side
 * of its FIFO, so the two programs of a conversation open their ends in
 * opposite orders (the submission stdin first, the validator stdout first)
 * and neither waits for the other forever. On failure it says why on the
 * test's stderr and ends the child: the agent does not wait for these
 * opens, since the other side may never come. */
static void open_fifos(char *stdin_path, char *stdout_path, int stdout_first) {
	for (int i = 0; i < 2; i++) {
		int is_out = (i == 0) == stdout_first;
		char *p = is_out ? stdout_path : stdin_path;
		int fd = open(p, is_out ? O_WRONLY : O_RDONLY);
		if (fd < 0 || dup2(fd, is_out ? 1 : 0) < 0) {
			dprintf(2, "codeexec-lane: open %s: %s\n", p, strerror(errno));
			_exit(127);
		}
		if (fd != (is_out ? 1 : 0))
			close(fd);
	}
}

/* zygote_stop kills the forking parent; reap reaps it. */
static void zygote_stop(void) {
	if (zpid > 0)
		kill(zpid, SIGKILL);
	zygote_gone();
}

/* zygote_usable says the forking parent is there and can answer: not
 * ended, stopped or traced (a test may have sent it SIGSTOP). A test
 * cannot trace it or write its memory: it made itself not dumpable. */
static int zygote_usable(void) {
	if (zpid <= 0)
		return 0;
	char text[512];
	if (!read_proc(zpid, "stat", text, sizeof text))
		return 0;
	char *p = strrchr(text, ')');
	return p != NULL && p[1] == ' ' && (p[2] == 'S' || p[2] == 'R' || p[2] == 'D');
}

/* wait_readable waits at most ms for fd to be readable. */
static int wait_readable(int fd, int ms) {
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r;
	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

/* zygote_start starts the forking parent argv and waits for its "R". Its
 * stdin and stdout are /dev/null, its stderr the agent's. */
static int zygote_start(char **argv, const char *cmd, size_t cmd_len) {
	int sv[2];
	if (cmd_len > sizeof zcmd || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		default_signals();
		setsid();
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || chdir("/") < 0)
			_exit(127);
		if (sv[1] == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(sv[1], 3) < 0)
			_exit(127);
		execvp(argv[0], argv);
		dprintf(2, "codeexec-lane: start the forking parent %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	zpid = pid;
	zsock = sv[0];
	memcpy(zcmd, cmd, cmd_len);
	zcmd_len = cmd_len;
	char c = 0;
	if (!wait_readable(zsock, 30000) || recv(zsock, &c, 1, 0) != 1 || c != 'R') {
		zygote_stop();
		return -1;
	}
	return 0;
}

/* zygote_fork has the forking parent fork the test: its working directory
 * and plain command line (args, NUL-separated) and its stdio go with the
 * request. The test is the parent's child: the parent waits for it and
 * reports its wait status ("X<status>") on the socket, after its pid
 * ("P<pid>"), which this returns; -1 when the parent did not answer. */
static pid_t zygote_fork(const char *dir, const char *args, size_t args_len, int fds[3]) {
	struct iovec iov[2] = {{.iov_base = (void *)dir, .iov_len = strlen(dir) + 1}, {.iov_base = (void *)args, .iov_len = args_len}};
	union {
		char b[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof ctl);
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(3 * sizeof(int));
	memcpy(CMSG_DATA(c), fds, 3 * sizeof(int));
	ssize_t n;
	do
		n = sendmsg(zsock, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	char answer[32];
	if (n < 0 || !wait_readable(zsock, 10000) || (n = recv(zsock, answer, sizeof answer - 1, 0)) <= 1 || answer[0] != 'P')
		return -1;
	answer[n] = 0;
	pid_t pid = (pid_t)atoi(answer + 1);
	return pid > 0 ? pid : -1;
}

/* The forked test, when the current test is one: its pid, whose exit the
 * forking parent reports. */
static pid_t forked;

/* join puts the first n strings of v (n < 0: up to a NULL) into buf, each
 * ended by a NUL, and their length in *len; -1 when they do not fit. */
static int join(char **v, int n, char *buf, size_t size, size_t *len) {
	*len = 0;
	for (int i = 0; n < 0 ? v[i] != NULL : i < n; i++) {
		size_t l = strlen(v[i]) + 1;
		if (*len + l > size)
			return -1;
		memcpy(buf + *len, v[i], l);
		*len += l;
	}
	return 0;
}

/* zygote_ensure has the forking parent cmd (zargv, joined) running and
 * usable: one that is not, or that is another command's, is stopped and
 * a new one started. -1 when none could start. */
static int zygote_ensure(char **zargv, const char *cmd, size_t cmd_len) {
	if (zpid > 0 && (!zygote_usable() || zcmd_len != cmd_len || memcmp(zcmd, cmd, cmd_len) != 0))
		zygote_stop();
	if (zpid <= 0)
		return zygote_start(zargv, cmd, cmd_len);
	return 0;
}

/* fork_test starts the test from the forking parent zargv (the command
 * line of zargc strings), starting or restarting the parent as needed;
 * args is the test's plain command line. -1 when no parent could fork
 * it: the caller then starts the test with exec. */
static int fork_test(char **zargv, int zargc, char **argv, char *dir, int in, int out[2], int err[2]) {
	char cmd[4096], args[MAX_ARGS];
	size_t cmd_len, args_len;
	if (join(zargv, zargc, cmd, sizeof cmd, &cmd_len) < 0 || join(argv, -1, args, sizeof args, &args_len) < 0)
		return -1;
	if (args_len > 0)
		args_len--; /* no NUL after the last one */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (zygote_ensure(zargv, cmd, cmd_len) < 0)
			return -1;
		int fds[3] = {in, out[1], err[1]};
		started_at = now_ns();
		pid_t pid = zygote_fork(dir, args, args_len, fds);
		if (pid > 0) {
			forked = pid;
			return 0;
		}
		zygote_stop();
	}
	return -1;
}

/* zygote_prepare starts the forking parent zargv, unless it runs:
 * Started names it (0 when it could not start), then Exit (status 0) and
 * Done. */
static void zygote_prepare(char **zargv, int zargc) {
	char cmd[4096];
	size_t cmd_len;
	if (join(zargv, zargc, cmd, sizeof cmd, &cmd_len) < 0) {
		send_frame(FAILED, "forking parent's command too long", 33);
		return;
	}
	zygote_ensure(zargv, cmd, cmd_len);
	unsigned char zp[4], x[28];
	put32(zp, (uint32_t)(zpid > 0 ? zpid : 0));
	memset(x, 0, sizeof x);
	send_frame(STARTED, zp, sizeof zp);
	send_frame(EXIT, x, sizeof x);
	send_frame(DONE, NULL, 0);
}

/* start forks and execs the test. In the child, before the exec: a session
 * of its own, the default signal mask, its stdio and working directory. An
 * exec that fails says why through a close-on-exec pipe. With stdout_path
 * set, the test's stdin and stdout are FIFOs (an interactive test) that the
 * child opens itself, and a failure to start is the child's exit 127 with
 * the reason on its stderr. */
static int start(char *dir, char *stdin_path, char *stdout_path, int stdout_first, char **zargv, int zargc, char **argv, int out[2], int err[2]) {
	int fifos = stdout_path[0] != 0;
	int in = -1;
	if (!fifos && (in = open(stdin_path, O_RDONLY | O_CLOEXEC)) < 0) {
		send_failed("open stdin", errno);
		return -1;
	}
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		die("pipe");
	/* A forked test: not an interactive one, whose stdio the test opens
	 * itself. */
	if (zargc > 0 && !fifos && fork_test(zargv, zargc, argv, dir, in, out, err) == 0) {
		close(in);
		close(out[1]);
		close(err[1]);
		return 0;
	}
	int report[2];
	if (pipe2(report, O_CLOEXEC) < 0)
		die("pipe");
	started_at = now_ns();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		if (in >= 0)
			close(in);
		close(out[0]); close(out[1]); close(err[0]); close(err[1]);
		close(report[0]); close(report[1]);
		send_failed("fork", e);
		return -1;
	}
	if (pid == 0) {
		default_signals();
		setsid();
		if (fifos) {
			close(report[0]);
			if (dup2(err[1], 2) < 0)
				_exit(127);
			open_fifos(stdin_path, stdout_path, stdout_first);
			if (chdir(dir) < 0) {
				dprintf(2, "codeexec-lane: chdir %s: %s\n", dir, strerror(errno));
				_exit(127);
			}
			execvp(argv[0], argv);
			dprintf(2, "codeexec-lane: start %s: %s\n", argv[0], strerror(errno));
			_exit(127);
		}
		if (dup2(in, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0 || chdir(dir) < 0) {
			int e = errno;
			write(report[1], &e, sizeof e);
			_exit(127);
		}
		execvp(argv[0], argv);
		int e = errno;
		write(report[1], &e, sizeof e);
		_exit(127);
	}
	child = pid;
	if (in >= 0)
		close(in);
	close(out[1]);
	close(err[1]);
	close(report[1]);
	if (fifos) {
		close(report[0]);
		return 0;
	}
	int e = 0;
	ssize_t n;
	do
		n = read(report[0], &e, sizeof e);
	while (n < 0 && errno == EINTR);
	close(report[0]);
	if (n > 0) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		child = 0;
		close(out[0]);
		close(err[0]);
		char what[300];
		snprintf(what, sizeof what, "start %s", argv[0]);
		send_failed(what, e);
		return -1;
	}
	return 0;
}

/* forked_exit reads the forking parent's report of the forked test's
 * exit, when its socket is readable (revents). When the parent is gone
 * before it reported, the test is the agent's child now, or was already
 * reaped by the parent: reap finds it, or nothing will. */
static int forked_exit(short revents, int *status, int64_t *elapsed) {
	if (child > 0) { /* the parent died: the test is the agent's child */
		if (reap(status, elapsed)) {
			forked = 0;
			return 1;
		}
		if (kill(child, 0) < 0 && errno == ESRCH) { /* reaped by the parent, never reported */
			child = 0;
			forked = 0;
			*status = SIGKILL;
			ended_at = now_ns();
			*elapsed = ended_at - started_at;
			exited_at = 0;
			return 1;
		}
		return 0;
	}
	if (revents != 0 && zsock >= 0) {
		char answer[32];
		ssize_t n = recv(zsock, answer, sizeof answer - 1, MSG_DONTWAIT);
		if (n > 1 && answer[0] == 'X') {
			answer[n] = 0;
			*status = atoi(answer + 1);
			ended_at = now_ns();
			*elapsed = ended_at - started_at;
			exited_at = 0;
			forked = 0;
			return 1;
		}
		if (n >= 0 || (errno != EAGAIN && errno != EINTR)) {
			/* The parent is gone (or broke the protocol): the test,
			 * if it lives, is the agent's child. */
			zygote_stop();
			child = forked;
			return forked_exit(0, status, elapsed);
		}
	}
	int ws;
	int64_t e;
	reap(&ws, &e); /* orphans, which are the agent's; the parent too, if it died */
	/* A parent a test stopped cannot report: it is killed, and the test is
	 * the agent's child from then on. */
	if (zpid > 0 && !zygote_usable())
		zygote_stop();
	if (zpid <= 0) {
		/* The parent died: its report, if it sent one, was read above. */
		child = forked;
		return forked_exit(0, status, elapsed);
	}
	return 0;
}

/* run starts one test and relays its output and exit: Exit when its first
 * process ends, Done when every writer of its stdout and stderr is gone (the
 * service kills what the test left running once it has the exit). */
static void run(char *payload, uint32_t n) {
	char *fields[4096];
	int nf = 0;
	for (uint32_t i = 0; i < n && nf < 4095;) {
		fields[nf++] = payload + i;
		char *end = memchr(payload + i, 0, n - i);
		if (end == NULL) {
			send_frame(FAILED, "bad request", 11);
			return;
		}
		i = (uint32_t)(end - payload) + 1;
	}
	/* Dir, Stdin, Stdout, Flags, then the command line. */
	if (nf < 5) {
		send_frame(FAILED, "bad request", 11);
		return;
	}
	fields[nf] = NULL;
	/* With the flag z, the command line is the forking parent's, an empty
	 * string, then the test's own. */
	char **zargv = NULL, **argv = fields + 4;
	int zargc = 0;
	if (strchr(fields[3], 'z') != NULL) {
		int sep = 4;
		while (sep < nf && fields[sep][0] != 0)
			sep++;
		if (sep == 4 || sep >= nf) {
			send_frame(FAILED, "bad request", 11);
			return;
		}
		fields[sep] = NULL;
		zargv = fields + 4;
		zargc = sep - 4;
		argv = fields + sep + 1;
		if (argv[0] == NULL) {
			/* No test: start the forking parent ahead of the tests,
			 * and answer as for a test that exited 0 at once. */
			zygote_prepare(zargv, zargc);
			return;
		}
	}
	int out[2], err[2];
	if (start(fields[0], fields[1], fields[2], strchr(fields[3], 'o') != NULL, zargv, zargc, argv, out, err) < 0)
		return;
	/* Started names the forking parent, when one runs: the service keeps
	 * it when it kills what a test left behind. */
	unsigned char zp[4];
	put32(zp, (uint32_t)(zpid > 0 ? zpid : 0));
	send_frame(STARTED, zp, sizeof zp);
	struct pollfd p[4] = {{.fd = out[0], .events = POLLIN}, {.fd = err[0], .events = POLLIN}, {.fd = sfd, .events = POLLIN},
		{.fd = forked > 0 ? zsock : -1, .events = POLLIN}};
	int exited = 0;
	for (;;) {
		if (!exited) {
			int status;
			int64_t elapsed;
			int done = forked > 0 ? forked_exit(p[3].revents, &status, &elapsed) : reap(&status, &elapsed);
			if (forked <= 0 || zsock < 0)
				p[3].fd = -1;
			if (done) {
				unsigned char x[28];
				put32(x, (uint32_t)((uint64_t)elapsed >> 32));
				put32(x + 4, (uint32_t)elapsed);
				put32(x + 8, (uint32_t)status);
				put32(x + 12, (uint32_t)((uint64_t)ended_at >> 32));
				put32(x + 16, (uint32_t)ended_at);
				put32(x + 20, (uint32_t)((uint64_t)exited_at >> 32));
				put32(x + 24, (uint32_t)exited_at);
				send_frame(EXIT, x, sizeof x);
				exited = 1;
			}
		}
		if (exited && p[0].fd < 0 && p[1].fd < 0)
			break;
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || p[i].revents == 0)
				continue;
			ssize_t r = read(p[i].fd, buf, sizeof buf);
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
				continue;
			}
			send_frame(i == 0 ? STDOUT : STDERR, buf, (uint32_t)r);
		}
		if (p[2].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) > 0)
				;
		}
	}
	send_frame(DONE, NULL, 0);
}

static void noop(int sig) { (void)sig; }

int main(void) {
	/* Not dumpable: no test (the same user) can trace the agent, read or
	 * write its memory, or reach its files through /proc/1, which then
	 * belong to root; so none can reach the service's end of its stdio. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die("prctl PR_SET_DUMPABLE");
	/* Every signal a test can send is caught and dropped: as PID 1 of its
	 * PID namespace the agent gets none from inside that has no handler
	 * (SIGKILL and SIGSTOP included). A handler, unlike SIG_IGN, is reset
	 * by exec: tests start with every signal's default. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = noop;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD)
			sigaction(s, &sa, NULL); /* fails only for signals libc reserves */
	/* Ends of children arrive through a signalfd. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0)
		die("sigprocmask");
	sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die("signalfd");
	/* Nothing the agent inherited, beyond its stdio, reaches a test. */
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		die("list open files");
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		int fd = atoi(e->d_name);
		if (fd > 2 && fd != dirfd(d))
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	closedir(d);

	send_frame(READY, NULL, 0);
	static char request[MAX_REQUEST];
	for (;;) {
		unsigned char h[5];
		if (!read_full(0, h, sizeof h))
			return 0; /* the service closed stdin: the lane is being removed */
		uint32_t n = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
		if (n > MAX_REQUEST) {
			errno = EMSGSIZE;
			die("read a request");
		}
		read_full(0, request, n);
		/* Orphans the service killed after the last test are reaped now:
		 * a zombie holds a slot of the pids limit. */
		int status;
		int64_t elapsed;
		reap(&status, &elapsed);
		if (h[0] != REQUEST)
			send_frame(FAILED, "bad request", 11);
		else
			run(request, n);
	}
}
