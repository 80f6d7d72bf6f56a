#include "kube/metrics/process_memory.h"

#include <malloc.h>

#include <fstream>
#include <string>

namespace hf::kube {

MemoryFigures ReadMemoryFigures() {
  MemoryFigures f;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) {
      f.resident_bytes = std::stoll(line.substr(6)) * 1024;  // "VmRSS:   1234 kB"
      break;
    }
  }
  struct mallinfo2 mi = mallinfo2();
  // Small allocations from the arenas plus the large ones mmapped apart.
  f.heap_in_use_bytes = static_cast<int64_t>(mi.uordblks + mi.hblkhd);
  f.heap_free_bytes = static_cast<int64_t>(mi.fordblks);
  return f;
}

std::vector<prometheus::MetricFamily> ProcessMemory::Collect() const {
  MemoryFigures f = ReadMemoryFigures();
  auto gauge = [](double v, std::vector<prometheus::ClientMetric::Label> labels = {}) {
    prometheus::ClientMetric m;
    m.label = std::move(labels);
    m.gauge.value = v;
    return m;
  };
  std::vector<prometheus::MetricFamily> out;
  if (f.resident_bytes >= 0) {
    out.push_back({"process_resident_memory_bytes", "Resident memory size in bytes.", prometheus::MetricType::Gauge,
                   {gauge(static_cast<double>(f.resident_bytes))}});
  }
  out.push_back({"process_heap_bytes",
                 "The C library heap: in_use by live allocations, free but held by the allocator.",
                 prometheus::MetricType::Gauge,
                 {gauge(static_cast<double>(f.heap_in_use_bytes), {{"state", "in_use"}}),
                  gauge(static_cast<double>(f.heap_free_bytes), {{"state", "free"}})}});
  return out;
}

}  // namespace hf::kube
