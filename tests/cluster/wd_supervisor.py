"""The kernel's side of regent's test watchdog (watchdog.driver: testing).

The agent's test driver appends one line per operation to its events file
(agent/watchdog.h, docs/internals/watchdog.md):

    <CLOCK_BOOTTIME ms> arm timeout=<s> pid=<agent pid>
    <ms> keepalive
    <ms> disarm          (magic close: the device stops)
    <ms> close           (closed without it: still armed, one last keepalive)

A WatchdogSupervisor follows that file in a thread and behaves like a real
watchdog: when the device is armed and not kicked within its timeout it
"resets the machine", i.e. SIGKILLs the agent that armed it and every
process of the node's PostgreSQL (the postmaster of data_dir/postmaster.pid
and its children). Like the kernel, it counts the death of the holder
without a magic close as one last keepalive, and the device stays armed.

Decisions use the events' own timestamps: a disarm written before the
timeout ran out is a disarm, however late the thread reads it. The thread
is bounded (it polls every `interval`, stops on stop() or after
`max_runtime`), never blocks on the agent, and is a daemon thread.

The fault suite (tests/fault/) may use it as it is: one per node.
"""

import contextlib
import os
import signal
import threading
import time


def boot_ms():
    """CLOCK_BOOTTIME in ms: the clock of the events file."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * 1000)


def parse_events(path):
    """[(ms, event, {key: value})] of a complete events file ([] if none)."""
    try:
        text = open(path, encoding="ascii", errors="replace").read()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[0].isdigit():
            continue
        out.append((int(parts[0]), parts[1], dict(p.split("=", 1) for p in parts[2:] if "=" in p)))
    return out


def _state(pid):
    """The /proc state letter of @pid, or None when it is gone."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return stat[stat.rfind(")") + 2 :][:1] or None


def _alive(pid):
    return _state(pid) not in (None, "Z", "X")


def _children(ppid):
    kids = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            stat = open(f"/proc/{e}/stat").read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1] == str(ppid):
            kids.append(int(e))
    return kids


class WatchdogSupervisor(threading.Thread):
    def __init__(self, events_path, data_dir, name="", interval=0.01, max_runtime=900.0):
        super().__init__(daemon=True, name=f"wd-supervisor {name}")
        self.events_path = str(events_path)
        self.data_dir = str(data_dir)
        self.interval = interval
        self.max_runtime = max_runtime
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self._offset = 0
        self._partial = ""
        self.armed = False
        self.timeout_ms = 0
        self.last = 0
        self.holder = None
        self.holder_gone = False
        # Each reset: {"at": boot ms the timeout ran out, "last": last kick,
        # "killed": [pids]}.
        self.resets = []

    # --- the device

    def _event(self, ms, ev, kv):
        if self.armed and ms > self.last + self.timeout_ms:
            self._reset(self.last + self.timeout_ms)
        if ev == "arm":
            self.armed = True
            self.timeout_ms = int(kv.get("timeout", "0")) * 1000
            self.holder = int(kv.get("pid", "0")) or None
            self.holder_gone = False
            self.last = ms
        elif ev in ("keepalive", "close") and self.armed:
            self.last = ms
        elif ev == "disarm":
            self.armed = False

    def _postmaster(self):
        try:
            return int(open(os.path.join(self.data_dir, "postmaster.pid")).readline())
        except (OSError, ValueError):
            return None

    def _reset(self, at):
        """The machine resets: its agent and its PostgreSQL die at once."""
        victims = []
        if self.holder is not None and _alive(self.holder):
            victims.append(self.holder)
        pm = self._postmaster()
        if pm is not None and _alive(pm):
            victims.append(pm)
            victims.extend(_children(pm))
        for pid in victims:
            if pid <= 1 or pid == os.getpid():
                continue  # never init, never ourselves
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self.resets.append({"at": at, "last": self.last, "killed": victims})
        self.armed = False

    def _read(self):
        try:
            with open(self.events_path, encoding="ascii", errors="replace") as f:
                f.seek(self._offset)
                chunk = f.read()
                self._offset = f.tell()
        except FileNotFoundError:
            return
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()
        for line in lines:
            parts = line.split()
            if len(parts) >= 2 and parts[0].isdigit():
                kv = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
                self._event(int(parts[0]), parts[1], kv)

    def step(self):
        with self.lock:
            self._read()
            now = boot_ms()
            if self.armed and not self.holder_gone and self.holder is not None:
                if not _alive(self.holder):
                    # The kernel pings once more when the holder's file closes.
                    self.holder_gone = True
                    self.last = max(self.last, now)
            if self.armed and now > self.last + self.timeout_ms:
                self._reset(self.last + self.timeout_ms)

    def run(self):
        end = time.monotonic() + self.max_runtime
        while not self.stop_event.is_set() and time.monotonic() < end:
            self.step()
            self.stop_event.wait(self.interval)

    def stop(self):
        self.stop_event.set()
        if self.is_alive():
            self.join(timeout=5)

    def events(self):
        return parse_events(self.events_path)
