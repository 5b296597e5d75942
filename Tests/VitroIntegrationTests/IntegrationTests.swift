// Integration tests: as root, against the real kernel. They run one at a time (they
// compare the machine before and after), each in its own VITRO_ROOT, and each checks
// that it left no mount, link, namespace, cgroup, nft table or process behind.

import Foundation
import Testing

@Suite(.serialized, .enabled(if: Conditions.canRun, "needs root (namespaces, mounts) and /bin/busybox from busybox-static"))
enum Integration {}
