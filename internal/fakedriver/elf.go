package fakedriver

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"

	"github.com/riptides/driverbuild/kernel"
)

// Module is a stand-in kernel module for release: an ELF64 relocatable
// object whose .modinfo section holds what modinfo(8) and the loader's
// vermagic check read (name, version, vermagic, ...). It has no code: it
// cannot be loaded into a real kernel, only inspected. Arch is x86_64 or
// aarch64 (amd64 and arm64 are accepted too); anything else panics, as a
// test helper should.
func Module(release, driverVersion, arch string) []byte {
	return ModuleWithVermagic(Vermagic(release, arch), driverVersion, arch)
}

// Vermagic is the vermagic string a distribution kernel of release puts
// into its modules.
func Vermagic(release, arch string) string {
	v := release + " SMP preempt mod_unload modversions"
	if mustArch(arch) == kernel.ArchAarch64 {
		v += " aarch64"
	}
	return v
}

// ModuleWithVermagic is Module with a vermagic of the caller's choosing,
// for tests of modules built for another kernel.
func ModuleWithVermagic(vermagic, driverVersion, arch string) []byte {
	return ModuleWithName(ModuleName, vermagic, driverVersion, arch)
}

// ModuleWithName is ModuleWithVermagic with another name in .modinfo, for
// tests of hostile names; empty leaves the name out.
func ModuleWithName(name, vermagic, driverVersion, arch string) []byte {
	info := []string{
		"license=GPL",
		"description=riptides stand-in driver (test fixture)",
		"author=driverbuild fakedriver",
		"version=" + driverVersion,
		"srcversion=0123456789ABCDEF0123456",
		"depends=",
		"retpoline=Y",
	}
	if name != "" {
		info = append(info, "name="+name)
	}
	info = append(info, "vermagic="+vermagic)
	var modinfo []byte
	for _, s := range info {
		modinfo = append(append(modinfo, s...), 0)
	}
	return relocatable(machine(mustArch(arch)), []section{
		{name: ".modinfo", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC, data: modinfo},
		{name: ".gnu.linkonce.this_module", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_WRITE, data: make([]byte, 64)},
	})
}

func mustArch(arch string) string {
	a, err := kernel.NormalizeArch(arch)
	if err != nil {
		panic(fmt.Sprintf("fakedriver: %v", err))
	}
	return a
}

func machine(arch string) elf.Machine {
	if arch == kernel.ArchAarch64 {
		return elf.EM_AARCH64
	}
	return elf.EM_X86_64
}

type section struct {
	name  string
	typ   elf.SectionType
	flags elf.SectionFlag
	data  []byte
}

// relocatable lays out an ELF64 little-endian ET_REL file: header, section
// data, the section name table, then the section headers.
func relocatable(m elf.Machine, secs []section) []byte {
	const ehsize, shentsize = 64, 64
	shstrtab := []byte{0}
	nameOff := make([]uint32, len(secs)+1)
	for i, s := range secs {
		nameOff[i] = uint32(len(shstrtab))
		shstrtab = append(append(shstrtab, s.name...), 0)
	}
	nameOff[len(secs)] = uint32(len(shstrtab))
	shstrtab = append(append(shstrtab, ".shstrtab"...), 0)

	var body bytes.Buffer
	body.Write(make([]byte, ehsize))
	hdrs := []elf.Section64{{}} // index 0 is the null section
	for i, s := range append(secs, section{name: ".shstrtab", typ: elf.SHT_STRTAB, data: shstrtab}) {
		for body.Len()%8 != 0 {
			body.WriteByte(0)
		}
		hdrs = append(hdrs, elf.Section64{
			Name: nameOff[i], Type: uint32(s.typ), Flags: uint64(s.flags),
			Off: uint64(body.Len()), Size: uint64(len(s.data)), Addralign: 1,
		})
		body.Write(s.data)
	}
	for body.Len()%8 != 0 {
		body.WriteByte(0)
	}
	shoff := body.Len()
	for _, h := range hdrs {
		_ = binary.Write(&body, binary.LittleEndian, h) // a bytes.Buffer does not fail
	}

	out := body.Bytes()
	hdr := elf.Header64{
		Type: uint16(elf.ET_REL), Machine: uint16(m), Version: uint32(elf.EV_CURRENT),
		Shoff: uint64(shoff), Ehsize: ehsize, Shentsize: shentsize,
		Shnum: uint16(len(hdrs)), Shstrndx: uint16(len(hdrs) - 1),
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var h bytes.Buffer
	_ = binary.Write(&h, binary.LittleEndian, hdr)
	copy(out, h.Bytes())
	return out
}
