// A pod's total requests and limits as quota charges them (pkg/api/v1/resource PodRequests and
// PodLimits): the app containers' sum, raised to what any init container needs while it runs
// (with the sidecars started before it), sidecars (restartPolicy Always init containers) added
// for good, and the pod's overhead on top.

public enum PodResources {
    public static func requests(_ spec: PodSpec) -> ResourceList {
        aggregate(spec) { ResourceList(parsing: $0.resources.requests) }.adding(ResourceList(parsing: spec.overhead))
    }

    /// Overhead is added only to the limits the containers set.
    public static func limits(_ spec: PodSpec) -> ResourceList {
        var out = aggregate(spec) { ResourceList(parsing: $0.resources.limits) }
        for (k, v) in ResourceList(parsing: spec.overhead) { if let l = out[k] { out[k] = l.adding(v) } }
        return out
    }

    static func aggregate(_ spec: PodSpec, _ of: (Container) -> ResourceList) -> ResourceList {
        var total = spec.containers.reduce(ResourceList()) { $0.adding(of($1)) }
        var sidecars = ResourceList(), initPeak = ResourceList()
        for c in spec.initContainers {
            let own = of(c)
            if c.restartPolicy == "Always" {
                total = total.adding(own)
                sidecars = sidecars.adding(own)
                initPeak.raise(to: sidecars)
            } else {
                initPeak.raise(to: own.adding(sidecars))
            }
        }
        total.raise(to: initPeak)
        return total
    }
}
