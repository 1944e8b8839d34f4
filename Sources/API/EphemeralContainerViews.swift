// Typed access to spec.ephemeralContainers (declared as JSON in the schema): each entry is a
// Container's fields plus targetContainerName.

extension PodSpec {
    /// The pod's ephemeral containers, as Container views.
    public var ephemeral: [Container] { ephemeralContainers?.arrayValue?.map(Container.init(json:)) ?? [] }
}

extension Container {
    /// An ephemeral container's target: the container whose process namespace it shares.
    public var targetContainerName: String? { json["targetContainerName"]?.stringValue }
}
