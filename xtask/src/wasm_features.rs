//! Which WebAssembly features a module uses, read from the `target_features` custom section that
//! rustc's linker writes, translated into the `--enable-…` flags `wasm-opt` needs. Without them
//! wasm-opt assumes the 2017 MVP and refuses rustc's default output (bulk memory, sign-ext, …).

/// The flags to use when a module carries no `target_features` section: what rustc enables by
/// default for wasm32-unknown-unknown.
pub const DEFAULT_FLAGS: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-bulk-memory-opt",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
    "--enable-call-indirect-overlong",
];

/// `wasm-opt` flags for the features a module declares as used, or [`DEFAULT_FLAGS`] when it
/// declares none.
pub fn wasm_opt_flags(module: &[u8]) -> Vec<String> {
    match used_features(module) {
        Some(features) if !features.is_empty() => features
            .iter()
            .filter_map(|feature| binaryen_flag(feature))
            .collect(),
        _ => DEFAULT_FLAGS.iter().map(|flag| flag.to_string()).collect(),
    }
}

/// Binaryen's spelling of an LLVM wasm feature name, when binaryen knows that feature.
fn binaryen_flag(llvm_feature: &str) -> Option<String> {
    let name = match llvm_feature {
        "atomics" => "threads",
        "nontrapping-fptoint" => "nontrapping-float-to-int",
        "simd128" => "simd",
        "bulk-memory"
        | "bulk-memory-opt"
        | "call-indirect-overlong"
        | "exception-handling"
        | "extended-const"
        | "fp16"
        | "gc"
        | "memory64"
        | "multimemory"
        | "multivalue"
        | "mutable-globals"
        | "reference-types"
        | "relaxed-simd"
        | "sign-ext"
        | "tail-call"
        | "wide-arithmetic" => llvm_feature,
        _ => return None,
    };
    Some(format!("--enable-{name}"))
}

/// The names of the features marked used (`+`) in the module's `target_features` section;
/// `None` when the bytes are not a wasm module or the section is absent.
pub fn used_features(module: &[u8]) -> Option<Vec<String>> {
    let mut reader = Reader {
        bytes: module.strip_prefix(b"\0asm\x01\0\0\0")?,
    };
    while !reader.bytes.is_empty() {
        let id = reader.byte()?;
        let size = reader.leb_u32()? as usize;
        let mut section = Reader {
            bytes: reader.take(size)?,
        };
        if id == 0 && section.name()? == "target_features" {
            return section.feature_list();
        }
    }
    None
}

/// The lowest address an active data segment of the module starts at (its `i32.const`
/// offset); `None` when the bytes are not a module, or a segment is placed another way.
pub fn lowest_data_address(module: &[u8]) -> Option<u32> {
    let mut reader = Reader {
        bytes: module.strip_prefix(b"\0asm\x01\0\0\0")?,
    };
    while !reader.bytes.is_empty() {
        let id = reader.byte()?;
        let size = reader.leb_u32()? as usize;
        let mut section = Reader {
            bytes: reader.take(size)?,
        };
        if id != DATA_SECTION {
            continue;
        }
        let mut lowest = u32::MAX;
        for _ in 0..section.leb_u32()? {
            // Flag 0: active, memory 0, offset `i32.const N; end`. LLD writes only these (and
            // passive ones, flag 1, with bulk memory: those hold no address and are skipped).
            match section.byte()? {
                0 => {
                    let (I32_CONST, Some(offset), END) =
                        (section.byte()?, section.leb_u32(), section.byte()?)
                    else {
                        return None;
                    };
                    lowest = lowest.min(offset);
                }
                1 => {}
                _ => return None,
            }
            let len = section.leb_u32()? as usize;
            section.take(len)?;
        }
        return Some(lowest);
    }
    Some(u32::MAX)
}

const DATA_SECTION: u8 = 11;
const I32_CONST: u8 = 0x41;
const END: u8 = 0x0b;

/// A cursor over wasm bytes; every read returns `None` at a truncated input.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.bytes.len() {
            return None;
        }
        let (head, tail) = self.bytes.split_at(len);
        self.bytes = tail;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn leb_u32(&mut self) -> Option<u32> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let byte = self.byte()?;
            value |= u32::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn name(&mut self) -> Option<&'a str> {
        let len = self.leb_u32()? as usize;
        std::str::from_utf8(self.take(len)?).ok()
    }

    fn feature_list(&mut self) -> Option<Vec<String>> {
        let count = self.leb_u32()?;
        let mut used = Vec::new();
        for _ in 0..count {
            let prefix = self.byte()?;
            let name = self.name()?;
            if prefix == b'+' {
                used.push(name.to_string());
            }
        }
        Some(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Vec<u8> {
        let mut bytes = vec![text.len() as u8];
        bytes.extend_from_slice(text.as_bytes());
        bytes
    }

    /// A module with one empty type section and a `target_features` section.
    fn module_with_features(features: &[(u8, &str)]) -> Vec<u8> {
        let mut payload = name("target_features");
        payload.push(features.len() as u8);
        for (prefix, feature) in features {
            payload.push(*prefix);
            payload.extend(name(feature));
        }
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.extend([1, 1, 0]);
        module.push(0);
        module.push(payload.len() as u8);
        module.extend(payload);
        module
    }

    #[test]
    fn reads_used_features_and_skips_disallowed_ones() {
        let module =
            module_with_features(&[(b'+', "sign-ext"), (b'-', "atomics"), (b'+', "simd128")]);
        assert_eq!(
            used_features(&module),
            Some(vec!["sign-ext".to_string(), "simd128".to_string()])
        );
    }

    #[test]
    fn maps_llvm_names_to_binaryen_flags() {
        let module = module_with_features(&[
            (b'+', "nontrapping-fptoint"),
            (b'+', "simd128"),
            (b'+', "bulk-memory"),
            (b'+', "some-future-feature"),
        ]);
        assert_eq!(
            wasm_opt_flags(&module),
            [
                "--enable-nontrapping-float-to-int",
                "--enable-simd",
                "--enable-bulk-memory"
            ]
        );
    }

    #[test]
    fn falls_back_to_rustc_defaults_without_the_section() {
        let module = b"\0asm\x01\0\0\0\x01\x01\0".to_vec();
        assert_eq!(used_features(&module), None);
        assert_eq!(wasm_opt_flags(&module), DEFAULT_FLAGS);
    }

    /// A module with one data section holding active segments at `offsets` (2 bytes each).
    fn module_with_data(offsets: &[u32]) -> Vec<u8> {
        let mut section = vec![offsets.len() as u8];
        for &offset in offsets {
            section.push(0);
            section.push(I32_CONST);
            let mut value = offset;
            loop {
                let byte = (value & 0x7f) as u8;
                value >>= 7;
                // Signed LEB128: stop once the sign bit of the last byte is clear.
                if value == 0 && byte & 0x40 == 0 {
                    section.push(byte);
                    break;
                }
                section.push(byte | 0x80);
            }
            section.extend_from_slice(&[END, 2, 7, 7]);
        }
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.push(DATA_SECTION);
        module.push(section.len() as u8);
        module.extend_from_slice(&section);
        module
    }

    #[test]
    fn finds_the_lowest_address_data_is_placed_at() {
        assert_eq!(
            lowest_data_address(&module_with_data(&[1_048_576, 1_063_236])),
            Some(1_048_576)
        );
        assert_eq!(
            lowest_data_address(&module_with_data(&[2048, 1024])),
            Some(1024)
        );
        assert_eq!(lowest_data_address(&module_with_data(&[16])), Some(16));
        assert_eq!(lowest_data_address(b"\0asm\x01\0\0\0"), Some(u32::MAX));
        assert_eq!(lowest_data_address(b"not wasm"), None);
    }

    #[test]
    fn truncated_or_foreign_bytes_are_not_a_module() {
        assert_eq!(used_features(b"not wasm"), None);
        let mut module = module_with_features(&[(b'+', "sign-ext")]);
        module.truncate(module.len() - 3);
        assert_eq!(used_features(&module), None);
    }
}
