"""glibc malloc settings for 128 px work on CPU: keep freed memory instead of returning it to the kernel at every free.

glibc serves every block above 32 MB (one 128 px activation of a batch: 16-64 images x 32-64 channels x 128 x 128
floats = 32-270 MB) with its own mmap and unmaps it when freed, so the next forward pass page-faults the same memory
in again, each 4 KiB page zero-filled by the kernel (bench/generation.py --res128 and bench/training_128.py measured
19-28% of the CPU time in the kernel; 1-6% with the memory kept).
"""
from __future__ import annotations

MALLOC_KEEP_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1)}  # the same, set from the environment


def malloc_config(mmap: bool = True, trim: bool = True) -> bool:
    """Set glibc's malloc at run time (mallopt); False where there is no glibc. mmap=False (M_MMAP_MAX 0) takes large
    blocks from the heap; trim=False (M_TRIM_THRESHOLD 2 GiB) keeps freed heap memory for the next pass. mmap=True,
    trim=True is glibc's default (M_MMAP_MAX 65536, M_TRIM_THRESHOLD 128 KiB; the freed heap is trimmed)."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    ok = mallopt(m_mmap_max, 65536 if mmap else 0) == 1
    ok = ok and mallopt(m_trim_threshold, 128 * 1024 if trim else 2**31 - 1) == 1
    if trim:
        libc.malloc_trim(0)
    return ok


def keep_freed_memory() -> bool:
    """What the `medzoo` command and training use: large blocks from the heap, freed memory kept (peak RSS unchanged)."""
    return malloc_config(mmap=False, trim=False)
