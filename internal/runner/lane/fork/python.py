# codeexec's forking parent for Python (docs/judge.md, "Forked
# interpreters"): started once per judge lane by the lane agent
# (sandbox/lane/lane.c), it has run no line of any submission when it
# forks a test, so every test starts from the same state as
# `python3 /job/main.py` would, without paying the interpreter's start.
#
# The agent's socket is fd 3 (SOCK_SEQPACKET). The parent says "R" when it
# is ready. Each request is the test's working directory and the plain
# command line (python3 SCRIPT ARGS...), NUL-separated, with three file
# descriptors: the test's stdin, stdout and stderr. The parent forks the
# test, says its pid ("P<pid>"), waits for it and says its wait status
# ("X<status>"); the test becomes the program.
import os
import sys

_plain = set(sys.modules)  # what a plain run has loaded at this point
import _socket
import ctypes
import gc

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_DUMPABLE = 4
# Not dumpable: no test (the same user) can trace the parent or write its
# memory, so no test can change what the next one starts from.
_libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _serve():
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET, 0, 3)
    sock.send(b"R")
    space = _socket.CMSG_SPACE(3 * 4)
    # What the parent allocated is frozen out of the collector's sight: a
    # test's collections do not touch (and so copy) the parent's pages.
    gc.freeze()
    while True:
        try:
            msg, anc, _, _ = sock.recvmsg(1 << 20, space)
        except InterruptedError:
            continue
        if not msg:
            os._exit(0)  # the agent is gone
        fds = []
        for level, kind, data in anc:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds += [int.from_bytes(data[i:i + 4], sys.byteorder) for i in range(0, len(data) - len(data) % 4, 4)]
        fields = msg.split(b"\0")
        if len(fds) != 3 or len(fields) < 3:
            for fd in fds:
                os.close(fd)
            sock.send(b"E")
            continue
        try:
            pid = os.fork()
        except OSError:
            for fd in fds:
                os.close(fd)
            sock.send(b"E")
            continue
        if pid == 0:
            # The test: its stdio, a session of its own, nothing else of
            # the parent's open.
            os.setsid()
            for i, fd in enumerate(fds):
                os.dup2(fd, i)
            os.closerange(3, 1 << 20)
            os.chdir(fields[0])
            return [os.fsdecode(f) for f in fields[1:]]
        for fd in fds:
            os.close(fd)
        sock.send(b"P%d" % pid)
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        sock.send(b"X%d" % status)


_argv = _serve()
# From here on, only in a test's process: become `python3 SCRIPT ARGS...`.
_libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)
_script = _argv[1]
sys.orig_argv = _argv
sys.argv = _argv[1:]
sys.path[0] = os.path.dirname(os.path.abspath(_script))
_main = type(sys)("__main__")
_main.__file__ = _script
_main.__cached__ = None
_main.__builtins__ = __builtins__
_main.__loader__ = __loader__.__class__("__main__", _script)
_main.__spec__ = None
for _name in list(sys.modules):
    if _name not in _plain:
        del sys.modules[_name]
sys.modules["__main__"] = _main
# The program runs one frame deeper than in a plain run (this file's
# frame): the recursion limit counts that frame, and says what a plain
# run's would.
_getlimit, _setlimit = sys.getrecursionlimit, sys.setrecursionlimit
_setlimit(_getlimit() + 1)
sys.getrecursionlimit = lambda: _getlimit() - 1
sys.setrecursionlimit = lambda limit: _setlimit(limit + 1)
del _name, _plain, _serve, _argv, _libc, _socket, ctypes, gc


def _system_exit(e):
    # The exit status of a SystemExit, as the interpreter makes it.
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    try:
        print(e.code, file=sys.stderr)
    except Exception:
        pass
    return 1


_status = 0
try:
    try:
        with open(_script, "rb") as _f:
            _source = _f.read()
        exec(compile(_source, _script, "exec", dont_inherit=True), _main.__dict__)
    except SystemExit:
        raise
    except BaseException as _e:
        # As the interpreter reports an uncaught exception: without this
        # file's frame.
        _e.__traceback__ = _e.__traceback__.tb_next
        sys.excepthook(type(_e), _e, _e.__traceback__)
        if isinstance(_e, KeyboardInterrupt):
            import signal
            sys.stdout.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        _status = 1
except SystemExit as _e:
    _status = _system_exit(_e)
# The end of a run as the interpreter makes it, without tearing the
# interpreter down (which would touch, and so copy, every page it shares
# with the parent): non-daemon threads are waited for, atexit callbacks
# run, buffered output is flushed, and the process exits. What a plain
# run does beyond that, collecting the last cycles and clearing modules,
# shows only in finalizers (__del__) that run at exit.
try:
    if "threading" in sys.modules:
        sys.modules["threading"]._shutdown()
except SystemExit as _e:
    _status = _system_exit(_e)
except BaseException:
    pass
import atexit
atexit._run_exitfuncs()
for _stream in (sys.stdout, sys.stderr):
    try:
        if _stream is not None:
            _stream.flush()
    except Exception:
        _status = 120
os._exit(_status & 0xFF)
