# Exercises every NBD command and flag our server offers, through libnbd (run by NbdShIT under
# nbdsh). URIs come from the environment. Any failed assertion exits non-zero.
import errno
import os
import nbd

rw_uri = os.environ["NBD_RW"]
full_uri = os.environ["NBD_FULL"]
ro_uri = os.environ["NBD_RO"]
MiB = 1024 * 1024


def expect_errno(expected, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except nbd.Error as e:
        # libnbd's Python Error.errno is the symbolic name in some versions, the number in others.
        actual = e.errno if isinstance(e.errno, int) else getattr(errno, str(e.errno), None)
        assert actual == expected, "expected %s, got errno %s (%s)" % (
            errno.errorcode[expected], e.errno, e.string)
        return
    raise AssertionError("expected %s but the call succeeded" % errno.errorcode[expected])


h = nbd.NBD()
h.add_meta_context("base:allocation")
h.connect_uri(rw_uri)
size = h.get_size()
assert size == 16 * MiB, size
assert h.get_structured_replies_negotiated()
assert h.can_meta_context("base:allocation")
for can in (h.can_flush, h.can_fua, h.can_trim, h.can_zero, h.can_fast_zero, h.can_df,
            h.can_multi_conn, h.can_cache):
    assert can(), can.__name__
assert not h.is_read_only()
assert h.get_block_size(nbd.SIZE_MINIMUM) == 1
assert h.get_block_size(nbd.SIZE_PREFERRED) == 4096
assert h.get_block_size(nbd.SIZE_MAXIMUM) == 32 * MiB

# WRITE, WRITE+FUA, READ (simple data path and structured).
pattern = bytes((i * 7) & 0xFF for i in range(MiB))
h.pwrite(pattern, 0)
h.pwrite(pattern, MiB, nbd.CMD_FLAG_FUA)
assert h.pread(MiB, 0) == pattern
assert h.pread(MiB, MiB) == pattern

# READ with DF: one content chunk, even across data and a hole.
chunks = []
def chunk(subbuf, offset, status, err):
    chunks.append((offset, len(subbuf), status))
    return 0
buf = h.pread_structured(2 * MiB, MiB, chunk, nbd.CMD_FLAG_DF)
assert buf[:MiB] == pattern and buf[MiB:] == bytes(MiB), "DF read content"
assert len(chunks) == 1 and chunks[0][2] == nbd.READ_DATA, chunks
# Without DF the hole comes back as an OFFSET_HOLE chunk.
chunks.clear()
buf = h.pread_structured(2 * MiB, MiB, chunk)
assert buf[MiB:] == bytes(MiB)
assert any(c[2] == nbd.READ_HOLE for c in chunks), chunks

# FLUSH.
h.flush()

# TRIM (+FUA), then the range is a hole.
h.trim(MiB, 4 * MiB)
h.pwrite(pattern, 4 * MiB)
h.trim(MiB, 4 * MiB, nbd.CMD_FLAG_FUA)

# WRITE_ZEROES, with NO_HOLE, with FAST_ZERO, with FUA.
h.pwrite(pattern, 6 * MiB)
h.zero(MiB, 6 * MiB)
assert h.pread(MiB, 6 * MiB) == bytes(MiB)
h.pwrite(pattern, 6 * MiB)
h.zero(MiB, 6 * MiB, nbd.CMD_FLAG_NO_HOLE)
assert h.pread(MiB, 6 * MiB) == bytes(MiB)
h.pwrite(pattern, 6 * MiB)
h.zero(MiB, 6 * MiB, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_FUA)
assert h.pread(MiB, 6 * MiB) == bytes(MiB)

# CACHE.
h.cache(MiB, 0)

# BLOCK_STATUS, with and without REQ_ONE.
entries = []
def extent(metacontext, offset, e, err):
    assert metacontext == "base:allocation"
    entries.append(list(e))
    return 0
h.block_status(8 * MiB, 0, extent)
flat = entries[-1]
assert flat[0] == 2 * MiB and flat[1] == 0, flat             # [0, 2M) data
assert flat[2] == 6 * MiB and flat[3] == 3, flat             # [2M, 8M) hole|zero (trimmed, zeroed)
h.block_status(8 * MiB, 0, extent, nbd.CMD_FLAG_REQ_ONE)
assert len(entries[-1]) == 2 and entries[-1][0] == 2 * MiB, entries[-1]

# Out of range: libnbd checks bounds itself unless strict mode is off; the server says EINVAL
# for reads, trims and block status, ENOSPC for writes (as the spec recommends).
h.set_strict_mode(0)
expect_errno(errno.EINVAL, h.pread, 4096, size)
expect_errno(errno.EINVAL, h.pread, 8192, size - 4096)
expect_errno(errno.ENOSPC, h.pwrite, bytes(4096), size)
expect_errno(errno.EINVAL, h.trim, 4096, size)
expect_errno(errno.ENOSPC, h.zero, 4096, size)
# Unknown flags are refused with EINVAL.
expect_errno(errno.EINVAL, h.flush, nbd.CMD_FLAG_REQ_ONE)
h.set_strict_mode(nbd.STRICT_MASK if hasattr(nbd, "STRICT_MASK") else 0x1f)

# Data written before still there after all of this.
assert h.pread(MiB, MiB) == pattern
h.shutdown()

# A full device: ENOSPC for writes and write-zeroes; reads work.
f = nbd.NBD()
f.connect_uri(full_uri)
expect_errno(errno.ENOSPC, f.pwrite, bytes(4096), 0)
expect_errno(errno.ENOSPC, f.zero, 4096, 0, nbd.CMD_FLAG_NO_HOLE)
assert f.pread(4096, 0) == bytes(4096)
f.shutdown()

# A read-only export: advertised, and EPERM when writing anyway.
r = nbd.NBD()
r.connect_uri(ro_uri)
assert r.is_read_only()
assert not r.can_trim() and not r.can_zero()
r.set_strict_mode(0)
expect_errno(errno.EPERM, r.pwrite, bytes(4096), 0)
expect_errno(errno.EPERM, r.trim, 4096, 0)
expect_errno(errno.EPERM, r.zero, 4096, 0)
assert r.pread(4096, 0) == bytes(4096)
r.shutdown()

print("exercise.py: OK")
