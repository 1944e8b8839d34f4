// The standard container filesystem, as Docker/containerd set it up.

public enum LinuxDefaults {
    // MS_* flags (sys/mount.h).
    static let rdonly: UInt = 1, nosuid: UInt = 2, nodev: UInt = 4, noexec: UInt = 8
    static let strictatime: UInt = 1 << 24

    public static func mounts(privileged: Bool) -> [SpawnConfig.Mount] {
        [
            .init(source: "proc", destination: "/proc", fstype: "proc", flags: nosuid | nodev | noexec),
            .init(source: "sysfs", destination: "/sys", fstype: "sysfs",
                  flags: nosuid | nodev | noexec | (privileged ? 0 : rdonly)),
            .init(source: "tmpfs", destination: "/dev", fstype: "tmpfs", flags: nosuid | strictatime,
                  data: "mode=755,size=65536k"),
            .init(source: "devpts", destination: "/dev/pts", fstype: "devpts", flags: nosuid | noexec,
                  data: "newinstance,ptmxmode=0666,mode=0620,gid=5"),
            .init(source: "shm", destination: "/dev/shm", fstype: "tmpfs", flags: nosuid | nodev | noexec,
                  data: "mode=1777,size=65536k"),
            .init(source: "mqueue", destination: "/dev/mqueue", fstype: "mqueue", flags: nosuid | nodev | noexec),
        ]
    }

    public static let devices: [SpawnConfig.Device] = [
        .init(path: "/dev/null", type: "c", major: 1, minor: 3, mode: 0o666),
        .init(path: "/dev/zero", type: "c", major: 1, minor: 5, mode: 0o666),
        .init(path: "/dev/full", type: "c", major: 1, minor: 7, mode: 0o666),
        .init(path: "/dev/random", type: "c", major: 1, minor: 8, mode: 0o666),
        .init(path: "/dev/urandom", type: "c", major: 1, minor: 9, mode: 0o666),
        .init(path: "/dev/tty", type: "c", major: 5, minor: 0, mode: 0o666),
    ]

    public static let symlinks: [SpawnConfig.Symlink] = [
        .init(target: "/proc/self/fd", link: "/dev/fd"),
        .init(target: "/proc/self/fd/0", link: "/dev/stdin"),
        .init(target: "/proc/self/fd/1", link: "/dev/stdout"),
        .init(target: "/proc/self/fd/2", link: "/dev/stderr"),
        .init(target: "pts/ptmx", link: "/dev/ptmx"),
        .init(target: "/proc/kcore", link: "/dev/core"),
    ]

    public static let maskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]

    public static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
}
