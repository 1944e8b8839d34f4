// Status conditions, whichever view carries them (JobCondition, PodCondition, metav1.Condition, the
// HPA's and the claim's): set one by type as Kubernetes' helpers do, the transition time moving
// only with the status.
import Foundation

public protocol ConditionView: JSONView {
    associatedtype ConditionType: Equatable
    var type: ConditionType? { get set }
    var status: ConditionStatus? { get set }
    var reason: String? { get set }
    var message: String? { get set }
    var lastTransitionTime: Date? { get set }
}

extension JobCondition: ConditionView {}
extension PodCondition: ConditionView {}
extension Condition: ConditionView {}
extension HorizontalPodAutoscalerCondition: ConditionView {}
extension PersistentVolumeClaimCondition: ConditionView {}

extension Array where Element: ConditionView {
    /// Adds or updates the condition of `type`; lastTransitionTime is `now` when it is new or its
    /// status changes. Returns its index.
    @discardableResult
    public mutating func set(_ type: Element.ConditionType, _ status: ConditionStatus, reason: String?, message: String?, now: Date) -> Int {
        if !contains(where: { $0.type == type }) {
            var c = Element()
            c.type = type
            append(c)
        }
        let i = firstIndex { $0.type == type } ?? count - 1
        if self[i].status != status || self[i].lastTransitionTime == nil { self[i].lastTransitionTime = now }
        self[i].status = status
        self[i].reason = reason
        self[i].message = message
        return i
    }
}
