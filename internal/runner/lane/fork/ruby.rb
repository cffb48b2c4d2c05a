# codeexec's forking parent for Ruby (docs/judge.md, "Forked
# interpreters"): the same protocol as python.py's. The agent's socket is
# fd 3; the parent says "R", then for each request (the working directory
# and the plain command line, NUL-separated, with the test's stdin, stdout
# and stderr) forks the test, says its pid ("P<pid>"), waits for it and
# says its wait status ("X<status>"). The test becomes `ruby SCRIPT
# ARGS...`. No top-level local variable is defined here: the program's
# top level is TOPLEVEL_BINDING's.
require "socket"
require "fiddle"

module CodeexecFork
  PR_SET_DUMPABLE = 4

  def self.prctl
    @prctl ||= Fiddle::Function.new(Fiddle.dlopen(nil)["prctl"], [Fiddle::TYPE_INT] * 5, Fiddle::TYPE_INT)
  end

  # serve answers requests until one is a test's, whose command line it
  # returns in that test's process.
  def self.serve
    # Not dumpable: no test (the same user) can trace the parent or write
    # its memory.
    prctl.call(PR_SET_DUMPABLE, 0, 0, 0, 0)
    sock = Socket.for_fd(3)
    sock.sendmsg("R")
    loop do
      msg, _, _, *controls = sock.recvmsg(1 << 20, 0, nil, scm_rights: true)
      exit!(0) if msg.nil? || msg.empty? # the agent is gone
      ios = controls.flat_map { |c| c.unix_rights || [] }
      fields = msg.split("\0", -1)
      if ios.size != 3 || fields.size < 3
        ios.each(&:close)
        sock.sendmsg("E")
        next
      end
      pid = Process.fork # no block: a forked block's process ends with the block
      if pid.nil?
        Process.setsid
        STDIN.reopen(ios[0])
        STDOUT.reopen(ios[1])
        STDERR.reopen(ios[2])
        (ios + [sock]).each(&:close)
        Dir.chdir(fields[0])
        return fields[1..]
      end
      ios.each(&:close)
      sock.sendmsg("P#{pid}")
      _, status = Process.waitpid2(pid)
      sock.sendmsg("X#{status.to_i}")
    end
  end

  # run becomes `ruby SCRIPT ARGS...`: $0, ARGV, the script evaluated at
  # the top level as the main script is, and an uncaught exception
  # reported without this file's frames.
  def self.run(argv)
    prctl.call(PR_SET_DUMPABLE, 1, 0, 0, 0)
    script = argv[1]
    $0 = script
    ARGV.replace(argv[2..])
    begin
      TOPLEVEL_BINDING.eval(File.read(script), script, 1)
    rescue SystemExit
      raise
    rescue Exception => e
      trace = (e.backtrace || []).reject { |f| f.start_with?(__FILE__ + ":") }
      if e.is_a?(SyntaxError) && trace.empty?
        # The script does not parse: Ruby says only the parser's message.
        $stderr.write(e.message.end_with?("\n") ? e.message : e.message + "\n")
        exit 1
      end
      # Without this file's frames.
      e.set_backtrace(trace)
      raise e
    end
  end
end

CodeexecFork.run(CodeexecFork.serve)
