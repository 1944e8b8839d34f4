// The Priority admission's rules (plugin/pkg/admission/priority): a new pod gets the value and
// preemption policy of the class it names (or of the global default class, or 0), and a class
// may become the global default only while no other is.

public enum PriorityAdmission {
    /// The global default; with several (a race), the lowest value, as Kubernetes picks.
    public static func defaultClass(_ classes: [PriorityClass]) -> PriorityClass? {
        classes.filter { $0.globalDefault == true }.min { ($0.value ?? 0, $0.name) < ($1.value ?? 0, $1.name) }
    }

    /// Resolves a new pod's spec.priority, priorityClassName and preemptionPolicy.
    public static func admit(_ pod: inout Pod, classes: [PriorityClass]) throws(AdmissionRefusal) {
        let priority: Int64
        let policy: String?
        let named = pod.spec.priorityClassName ?? ""
        if named.isEmpty {
            if let d = defaultClass(classes) {
                pod.spec.priorityClassName = d.name
                priority = d.value ?? 0
                policy = d.preemptionPolicy
            } else {
                priority = 0
                policy = "PreemptLowerPriority"
            }
        } else {
            guard let pc = classes.first(where: { $0.name == named }) else {
                throw AdmissionRefusal(message: "no PriorityClass with name \(named) was found")
            }
            priority = pc.value ?? 0
            policy = pc.preemptionPolicy
        }
        if let given = pod.spec.priority, given != priority {
            throw AdmissionRefusal(message: "the integer value of priority (\(given)) must not be provided in pod spec; priority admission controller computed \(priority) from the given PriorityClass name")
        }
        pod.spec.priority = priority
        guard let policy else { return }
        if let given = pod.spec.preemptionPolicy, given != policy {
            throw AdmissionRefusal(message: "the string value of PreemptionPolicy (\(given)) must not be provided in pod spec; priority admission controller computed \(policy) from the given PriorityClass name")
        }
        pod.spec.preemptionPolicy = policy
    }

    /// A class marked globalDefault while another one is (validatePriorityClass).
    public static func checkDefault(_ pc: PriorityClass, existing: [PriorityClass]) throws(AdmissionRefusal) {
        guard pc.globalDefault == true, let other = defaultClass(existing), other.name != pc.name else { return }
        throw AdmissionRefusal(message: "PriorityClass \(other.name) is already marked as default. Only one default can exist")
    }
}
