// Chapter 08: the hook that turns `vitro run` into `vitro learn run`. The pipeline
// calls the observer before and after each stage; learn run pauses and explains there.
// There is no second, teaching code path: the same stages run either way.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// What an observer may look at between stages.
public struct StageContext: Sendable {
    public var containerID: String
    public var rootfs: String
    public var argv: [String]
    /// vitro-init's stage A, once spawned.
    public var initPid: pid_t?
    /// The container's pid 1 (host pid), once forked.
    public var containerPid: pid_t?
    /// "v1" or "v2" once the cgroup stage has looked, and the container's cgroup dirs.
    public var cgroupVersion: String?
    public var cgroupDirectories: [String] = []
    /// The container's address on the bridge, once the network stage has one.
    public var containerAddress: String?
}

public protocol PipelineObserver: AnyObject {
    /// Called before a stage starts; may block (a pause) or throw (the user quit).
    func willBegin(_ stage: Stage, _ context: StageContext) throws
    /// Called when a stage has finished, with the events it recorded.
    func didEnd(_ stage: Stage, _ context: StageContext, events: [TraceEvent])
    /// Called once the container's process has ended.
    func containerExited(_ status: ExitStatus, _ context: StageContext)
}
