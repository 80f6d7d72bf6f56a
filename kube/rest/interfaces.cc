#include "kube/rest/interfaces.h"

namespace hf::kube {

Status Reader::ListEach(const GroupVersionResource& gvr, const std::string& ns, ListOptions opts,
                        const std::function<void(Json&&)>& on_item, std::string* resource_version) {
  opts.continue_token.clear();
  for (;;) {
    auto page = List(gvr, ns, opts);
    if (!page.ok()) return page.status();
    for (auto& item : page->items) on_item(std::move(item));
    if (resource_version != nullptr) *resource_version = page->resource_version;
    if (page->continue_token.empty()) return Status::Ok();
    opts.continue_token = page->continue_token;
    // Continuation pages are served from the first page's snapshot.
    opts.resource_version.clear();
  }
}

}  // namespace hf::kube
