// ProcessMemory: a Prometheus collectable with the process's memory as the
// kernel and the C library see it, read at each scrape:
//   process_resident_memory_bytes   VmRSS, as every Prometheus client exports it
//   process_heap_bytes{state}       the C library's heap: "in_use" (live
//                                   allocations) and "free" (held, not in use)
// RSS that grows while in_use stays flat is the allocator holding freed
// memory, not a leak.
//
// Thread-safety: Collect from any thread.
#ifndef HF_KUBE_METRICS_PROCESS_MEMORY_H_
#define HF_KUBE_METRICS_PROCESS_MEMORY_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <vector>

namespace hf::kube {

struct MemoryFigures {
  int64_t resident_bytes = -1;  // -1 when /proc could not be read
  int64_t heap_in_use_bytes = 0;
  int64_t heap_free_bytes = 0;
};
MemoryFigures ReadMemoryFigures();

class ProcessMemory final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace hf::kube

#endif  // HF_KUBE_METRICS_PROCESS_MEMORY_H_
