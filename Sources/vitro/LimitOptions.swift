// The resource-limit flags of `run`, as Docker spells them.

import VitroCommandLine
import VitroCgroups

struct LimitOptions: ParsableArguments {
    @Option("-m", "--memory", help: "Memory limit (e.g. 512m, 1g).")
    var memory: String?

    @Option("--memory-swap", help: "Memory plus swap limit; -1 for unlimited swap.")
    var memorySwap: String?

    @Option("--memory-reservation", help: "Memory soft limit.")
    var memoryReservation: String?

    @Option("--cpus", help: "Number of CPUs (e.g. 0.5).")
    var cpus: String?

    @Option("-c", "--cpu-shares", help: "CPU shares (relative weight).")
    var cpuShares: Int64?

    @Option("--cpu-quota", help: "CPU CFS quota in microseconds (-1 for none).")
    var cpuQuota: Int64?

    @Option("--cpu-period", help: "CPU CFS period in microseconds.")
    var cpuPeriod: Int64?

    @Option("--cpuset-cpus", help: "CPUs in which to allow execution (0-3, 0,1).")
    var cpusetCpus: String?

    @Option("--pids-limit", help: "Tune the container's pids limit (-1 for unlimited).")
    var pidsLimit: Int64?

    @Option("--blkio-weight", help: "Block IO relative weight, 10 to 1000.")
    var blkioWeight: Int64?

    func parse() throws(CgroupError) -> CgroupLimits {
        try CgroupLimits.parse(
            memory: memory, memorySwap: memorySwap, memoryReservation: memoryReservation, cpus: cpus,
            cpuShares: cpuShares, cpuQuota: cpuQuota, cpuPeriod: cpuPeriod, cpusetCpus: cpusetCpus,
            pidsLimit: pidsLimit, blkioWeight: blkioWeight, onlineCPUs: CgroupLimits.onlineCPUs())
    }
}
