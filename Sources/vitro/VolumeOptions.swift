// The volume flags of `run`, as Docker spells them (chapter 06): -v, --mount and
// --volumes-from. Parsed here, checked against the host when the container's record is
// made, and made (volumes, -v directories) in the run's volumes stage.

import VitroCommandLine
import VitroVolumes

struct VolumeOptions: ParsableArguments {
    @Option("-v", "--volume", help: "Bind mount a volume: HOST-PATH:CONTAINER-PATH[:OPTIONS], NAME:CONTAINER-PATH[:OPTIONS], or CONTAINER-PATH (a new anonymous volume). OPTIONS: ro, rw, nocopy, a propagation (rprivate, rslave, rshared, ...).")
    var volume: [String] = []

    @Option("--mount", help: "Attach a filesystem mount: type=bind|volume|tmpfs,source=...,target=...[,readonly][,...].")
    var mount: [String] = []

    @Option("--volumes-from", help: "Mount the volumes of another container: CONTAINER[:ro|:rw].")
    var volumesFrom: [String] = []

    /// The mounts, in the order given (-v first, then --mount), and --volumes-from.
    func parse() throws(VolumeError) -> ([VolumeSpec], [VolumesFrom]) {
        var specs: [VolumeSpec] = []
        for v in volume { specs.append(try VolumeSpec.parseVolume(v)) }
        for m in mount { specs.append(try VolumeSpec.parseMount(m)) }
        var from: [VolumesFrom] = []
        for f in volumesFrom { from.append(try VolumesFrom.parse(f)) }
        return (specs, from)
    }
}
