// Chapter 02: layers: tar, decompression, whiteouts, snapshots, the overlay rootfs.
// See Chapters/02-layers.md.

import VitroImage
