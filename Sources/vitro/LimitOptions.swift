// The resource-limit flags of `run`, as Docker spells them.

import VitroCommandLine
import VitroCgroups

struct LimitOptions: ParsableArguments {
    @Option(name: [.customShort("m"), .long], help: "Memory limit (e.g. 512m, 1g).")
    var memory: String?

    @Option(name: .long, help: "Memory plus swap limit; -1 for unlimited swap.")
    var memorySwap: String?

    @Option(name: .long, help: "Memory soft limit.")
    var memoryReservation: String?

    @Option(name: .long, help: "Number of CPUs (e.g. 0.5).")
    var cpus: String?

    @Option(name: [.customShort("c"), .long], help: "CPU shares (relative weight).")
    var cpuShares: Int64?

    @Option(name: .long, help: "CPU CFS quota in microseconds (-1 for none).")
    var cpuQuota: Int64?

    @Option(name: .long, help: "CPU CFS period in microseconds.")
    var cpuPeriod: Int64?

    @Option(name: .long, help: "CPUs in which to allow execution (0-3, 0,1).")
    var cpusetCpus: String?

    @Option(name: .long, help: "Tune the container's pids limit (-1 for unlimited).")
    var pidsLimit: Int64?

    @Option(name: .long, help: "Block IO relative weight, 10 to 1000.")
    var blkioWeight: Int64?

    func parse() throws(CgroupError) -> CgroupLimits {
        try CgroupLimits.parse(
            memory: memory, memorySwap: memorySwap, memoryReservation: memoryReservation, cpus: cpus,
            cpuShares: cpuShares, cpuQuota: cpuQuota, cpuPeriod: cpuPeriod, cpusetCpus: cpusetCpus,
            pidsLimit: pidsLimit, blkioWeight: blkioWeight, onlineCPUs: CgroupLimits.onlineCPUs())
    }
}
