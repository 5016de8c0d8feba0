"""Marks one version requirement (e.g. OPENSSL_3.2.0) of an ELF64 shared object weak (VER_FLG_WEAK),
so that ld.so loads it against a library without that version."""
import struct, sys
path, version = sys.argv[1], sys.argv[2].encode()
data = bytearray(open(path, 'rb').read())
shoff, = struct.unpack_from('<Q', data, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3A)
sections = [struct.unpack_from('<IIQQQQIIQQ', data, shoff + i * shentsize) for i in range(shnum)]
SHT_GNU_verneed = 0x6ffffffe
done = 0
for name, typ, flags, addr, off, size, link, info, align, entsize in sections:
    if typ != SHT_GNU_verneed:
        continue
    strtab = sections[link][4]
    pos = off
    for _ in range(info):
        vn_version, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from('<HHIII', data, pos)
        apos = pos + vn_aux
        for _ in range(vn_cnt):
            vna_hash, vna_flags, vna_other, vna_name, vna_next = struct.unpack_from('<IHHII', data, apos)
            end = data.index(b'\0', strtab + vna_name)
            if bytes(data[strtab + vna_name:end]) == version:
                struct.pack_into('<H', data, apos + 4, vna_flags | 0x2)
                done += 1
            apos += vna_next
        pos += vn_next
if not done:
    sys.exit('no requirement ' + version.decode())
open(path, 'wb').write(data)
print('weakened', done)
