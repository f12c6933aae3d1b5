// Formatting helpers for the dashboard.
export function formatBytes(bytes) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) {
    bytes = bytes / 1024;
    i++;
  }
  return `${bytes.toFixed(1)} ${units[i]}`;
}

export function joinNames(names) {
  return names.map((n) => n.trim()).join(", ");
}
