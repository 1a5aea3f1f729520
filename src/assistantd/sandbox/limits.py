"""The resource limits of one sandbox session, with defaults that are safe on a small server."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Every limit a session is held to. How each is enforced depends on the machine; the backend's
    probe tells which mechanism applies (`ProbeResult.reason`)."""

    # cgroup memory (+swap) limit of the whole session, /mnt/data content written by it included.
    memory_bytes: int = GIB
    # RLIMIT_AS = memory_bytes + this: a single huge allocation fails with MemoryError instead of
    # waking the OOM killer. The kernel itself maps about 0.6 GB it never touches.
    address_space_headroom_bytes: int = 640 * MIB
    # Tasks (processes and threads) of the session: cgroup pids.max, else RLIMIT_NPROC of a
    # dedicated uid. The kernel alone uses about a dozen threads.
    pids: int = 128
    # CPU share of the session in cores (cgroup cpu quota); None for no quota.
    cpus: float | None = 1.0
    # After a call's deadline the kernel gets an interrupt; past this grace it is killed.
    interrupt_grace_seconds: float = 3.0
    # Characters of logs kept per call; the rest is replaced by a marker.
    output_chars: int = MIB
    # Size of /mnt/data (a tmpfs): input copies and everything the code writes there. What the
    # code writes there counts against memory_bytes too, so keep this well below it.
    data_dir_bytes: int = 512 * MIB
    # Size of /tmp and of /dev/shm (tmpfs).
    tmp_bytes: int = 256 * MIB
    shm_bytes: int = 64 * MIB
    # Images kept per call.
    max_images: int = 32
    # Files reported per call; files past it (and deeper than max_depth) are not reported.
    max_reported_files: int = 256
    max_depth: int = 8
    # Largest single message accepted from the kernel; a larger one cuts its connection, so a
    # hostile kernel cannot make the server buffer gigabytes.
    max_message_bytes: int = 64 * MIB
    # How long a kernel may take to come up (a loaded 2-core machine needs a few seconds).
    start_timeout_seconds: float = 30.0
    # The unprivileged uid/gid the sandbox runs as when no cgroup pids limit is writable (as
    # root, RLIMIT_NPROC does not bind, so a fork bomb needs one or the other).
    fallback_uid: int = 65534
    fallback_gid: int = 65534

    def __post_init__(self) -> None:
        positive = {
            "memory_bytes": self.memory_bytes,
            "pids": self.pids,
            "output_chars": self.output_chars,
            "data_dir_bytes": self.data_dir_bytes,
            "tmp_bytes": self.tmp_bytes,
            "shm_bytes": self.shm_bytes,
            "max_message_bytes": self.max_message_bytes,
            "start_timeout_seconds": self.start_timeout_seconds,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"SandboxLimits.{name} must be positive, got {value}")
        if self.cpus is not None and self.cpus <= 0:
            raise ValueError(f"SandboxLimits.cpus must be positive or None, got {self.cpus}")
        if self.address_space_headroom_bytes < 0 or self.interrupt_grace_seconds < 0:
            raise ValueError("SandboxLimits: headroom and grace cannot be negative")
        if self.max_images < 0 or self.max_reported_files < 0 or self.max_depth < 1:
            raise ValueError("SandboxLimits: invalid max_images/max_reported_files/max_depth")

    @property
    def address_space_bytes(self) -> int:
        return self.memory_bytes + self.address_space_headroom_bytes
