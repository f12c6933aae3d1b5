// Formatting helpers for the dashboard.
export function formatBytes(bytes) {
  var units = ["B", "KiB", "MiB", "GiB"];
  var i = 0;
  while (bytes >= 1024 && i < units.length - 1) {
    bytes = bytes / 1024;
    i++;
  }
  return bytes.toFixed(1) + " " + units[i];
}

export function joinNames(names) {
  return names.map(function (n) { return n.trim(); }).join(", ");
}
