// Chapter 02: layers. An image's root filesystem travels as an ordered list of layers,
// each a tar archive (usually gzip- or zstd-compressed) of what changed against the
// layers below it, with deletions written as `.wh.` whiteout files. This module reads
// those archives with a tar reader of its own (`TarReader`), decompresses them as
// streams (`GzipSource`, `ZstdSource`), unpacks each into a snapshot directory in the
// form overlayfs understands (`LayerUnpacker`), keeps snapshots by chain ID
// (`SnapshotStore`), and says how to stack them into one root (`OverlayPlan`).
// See Chapters/02-layers.md.

import VitroImage
