// The RuntimeDefault seccomp profile, compiled to BPF with libseccomp in the parent.
// The child only loads the bytes (C boundary: no libseccomp after clone).
import CSeccomp
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// A seccomp profile: which syscalls fail, and with what.
public struct SeccompProfile: Sendable, Equatable {
    /// Syscalls that fail with EPERM.
    public var denied: [String]
    /// Syscalls that fail with ENOSYS, so libc falls back (clone3 → clone, which we can filter by flags).
    public var unimplemented: [String]
    /// clone(2) flags that make clone fail with EPERM (new namespaces).
    public var deniedCloneFlags: [UInt64]

    /// Equivalent in effect to Docker's default profile for a container with the default
    /// capabilities: no mounts, no new namespaces, no kernel keyring, no module loading, no bpf,
    /// no ptrace-like cross-process access, no clock/kernel tuning, no io_uring.
    public static let runtimeDefault = SeccompProfile(
        denied: [
            "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module",
            "finit_module", "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "get_mempolicy",
            "init_module", "io_uring_enter", "io_uring_register", "io_uring_setup", "ioperm", "iopl",
            "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount",
            "mount_setattr", "move_mount", "move_pages", "name_to_handle_at", "nfsservctl",
            "open_by_handle_at", "open_tree", "perf_event_open", "pivot_root", "process_vm_readv",
            "process_vm_writev", "ptrace", "query_module", "quotactl", "quotactl_fd", "reboot",
            "request_key", "set_mempolicy", "setns", "settimeofday", "stime", "swapoff", "swapon",
            "syslog", "sysfs", "_sysctl", "umount", "umount2", "unshare", "uselib", "userfaultfd",
            "ustat", "vm86", "vm86old", "fanotify_init", "lsm_set_self_attr",
        ],
        unimplemented: ["clone3"],
        deniedCloneFlags: [
            0x0002_0000, // CLONE_NEWNS
            0x0200_0000, // CLONE_NEWCGROUP
            0x0400_0000, // CLONE_NEWUTS
            0x0800_0000, // CLONE_NEWIPC
            0x1000_0000, // CLONE_NEWUSER
            0x2000_0000, // CLONE_NEWPID
            0x4000_0000, // CLONE_NEWNET
            0x0000_0080, // CLONE_NEWTIME
        ])

    /// Compiles to raw BPF (struct sock_filter[]) for the native architecture. Syscalls of other
    /// ABIs (i386 int 0x80, x32) hit libseccomp's bad-arch action (kill), so they can't bypass it.
    public func compileBPF() throws -> [UInt8] {
        guard let ctx = seccomp_init(Self.actAllow) else {
            throw RuntimeError(.seccomp, "seccomp_init failed")
        }
        defer { seccomp_release(ctx) }
        for name in denied {
            try add(ctx, action: Self.actErrno(EPERM), name: name, args: [])
        }
        for name in unimplemented {
            try add(ctx, action: Self.actErrno(ENOSYS), name: name, args: [])
        }
        for flag in deniedCloneFlags {
            let cmp = scmp_arg_cmp(arg: 0, op: SCMP_CMP_MASKED_EQ, datum_a: flag, datum_b: flag)
            try add(ctx, action: Self.actErrno(EPERM), name: "clone", args: [cmp])
        }
        return try exportBPF(ctx)
    }

    /// A stable content hash (FNV-1a; Swift's Hasher is seeded per process) naming cached programs.
    public var fingerprint: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let text = (denied + ["|"] + unimplemented + ["|"] + deniedCloneFlags.map { String($0) }).joined(separator: ",")
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }

    private static let actAllow: UInt32 = 0x7fff_0000
    private static func actErrno(_ e: Int32) -> UInt32 { 0x0005_0000 | (UInt32(e) & 0xffff) }

    private func add(_ ctx: scmp_filter_ctx, action: UInt32, name: String, args: [scmp_arg_cmp]) throws {
        let nr = seccomp_syscall_resolve_name(name)
        // A syscall this architecture doesn't have (e.g. vm86 on x86_64) needs no rule.
        if nr == __NR_SCMP_ERROR || nr < 0 { return }
        let rc = args.withUnsafeBufferPointer { buf in
            seccomp_rule_add_array(ctx, action, nr, UInt32(buf.count), buf.baseAddress)
        }
        if rc != 0 {
            throw RuntimeError(.seccomp, "seccomp rule for \(name) failed: \(String(cString: strerror(-rc)))")
        }
    }

    private func exportBPF(_ ctx: scmp_filter_ctx) throws -> [UInt8] {
        // libseccomp exports to an fd: use an unlinked temp file (memfd_create needs _GNU_SOURCE).
        var template = Array("/tmp/skiff-seccomp-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw RuntimeError.posix(.seccomp, "creating a temp file for seccomp") }
        unlink(template)
        defer { close(fd) }
        let rc = seccomp_export_bpf(ctx, fd)
        guard rc == 0 else { throw RuntimeError(.seccomp, "seccomp_export_bpf: \(String(cString: strerror(-rc)))") }
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { throw RuntimeError(.seccomp, "seccomp_export_bpf produced no program") }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Int(size), 0) }
        guard n == size else { throw RuntimeError(.seccomp, "reading the compiled seccomp program failed") }
        return bytes
    }
}
