//! How much memory is left.

/// Bytes of memory this process may still use: `MemAvailable` of /proc/meminfo, or `u64::MAX`
/// where that cannot be read (no limit is then enforced).
pub fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().strip_suffix("kB"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .map_or(u64::MAX, |kb| kb.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    #[test]
    fn some_memory_is_available() {
        let bytes = super::available_memory();
        // This machine has between 1 MB and 100 TB free; elsewhere the value is u64::MAX.
        assert!(bytes > 1 << 20);
    }
}
