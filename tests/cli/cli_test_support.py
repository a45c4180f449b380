"""What every clawnet CLI end-to-end test (tests/cli/test_*.py) needs: the binary under test (the
script's first argument, as CTest passes it), a list of failed checks that does not stop at the
first one, the binary run with captured text output and a time limit, and the closing report with
the exit status CTest reads (0 all checks held, 1 otherwise). The test scripts sit next to this
file, so Python finds it on their sys.path."""
import subprocess
import sys


class CliTest:
    def __init__(self, name, *, prefix=(), timeout=300):
        """name: printed in the report; prefix: arguments put before every run's (a subcommand);
        timeout: seconds a run may take."""
        self.name, self.prefix, self.timeout = name, tuple(prefix), timeout
        self.clawnet = sys.argv[1]
        self.failures = []

    def check(self, cond, what):
        if not cond:
            self.failures.append(what)
            print("FAIL:", what, file=sys.stderr)
        return cond

    def run(self, *args, **kwargs):
        """`clawnet PREFIX ARGS`; keyword arguments go to subprocess.run (input=...)."""
        return subprocess.run([self.clawnet, *self.prefix, *args], capture_output=True, text=True, timeout=self.timeout, **kwargs)

    def finish(self):
        if self.failures:
            print(f"{self.name}: {len(self.failures)} failure(s)", file=sys.stderr)
            sys.exit(1)
        print(f"{self.name}: ok")
        sys.exit(0)
