"""A sound server's source recorded by parec, raw, on a thread of its own:
every sample is kept (mono s16le), and for each read the time it arrived
and the sample count so far, so that a sample's capture time can be bounded.
Shared by the benchmarks that record the null sink's monitor
(bench-daemon.py) and the virtual microphone's (bench-listen.py).
"""

import os
import subprocess
import threading
import time


class Capture:
    def __init__(self, device, rate, clock=time.monotonic_ns):
        """Records `device` at `rate` Hz; `clock` stamps each read."""
        self.rate = rate
        self.clock = clock
        self.proc = subprocess.Popen(
            ["parec", "-d", device, "--raw", "--format=s16le", f"--rate={rate}",
             "--channels=1", "--latency-msec=5"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        self.samples = bytearray()
        self.reads = []  # (clock at arrival, samples so far)
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 4096)
            now = self.clock()
            if not chunk:
                return
            with self.lock:
                self.samples += chunk
                self.reads.append((now, len(self.samples) // 2))

    def count(self):
        with self.lock:
            return len(self.samples) // 2

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.thread.join()
