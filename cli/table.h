// Plain-text tables for kubectl-devicepool's output: columns as wide as
// their widest cell, colour (ANSI, on a terminal only) applied after
// padding so escape codes do not count.
//
// Thread-safety: plain values.
#ifndef HF_CLI_TABLE_H_
#define HF_CLI_TABLE_H_

#include <algorithm>
#include <string>
#include <vector>

namespace hf::cli {

inline std::string Paint(bool color, const char* code, const std::string& s) {
  return color ? std::string("\033[") + code + "m" + s + "\033[0m" : s;
}

class Table {
 public:
  // `gap`: the spaces between columns.
  explicit Table(std::vector<std::string> header, size_t gap = 1) : gap_(gap) {
    rows_.push_back({std::move(header), {}});
  }
  void Add(std::vector<std::string> cells, std::vector<const char*> colors = {}) {
    colors.resize(cells.size(), nullptr);
    rows_.push_back({std::move(cells), std::move(colors)});
  }
  std::string Render(bool color, const std::string& indent) const {
    std::vector<size_t> width;
    for (const auto& r : rows_) {
      width.resize(std::max(width.size(), r.cells.size()), 0);
      for (size_t i = 0; i < r.cells.size(); ++i) width[i] = std::max(width[i], r.cells[i].size());
    }
    std::string out;
    for (const auto& r : rows_) {
      std::string line = indent;
      for (size_t i = 0; i < r.cells.size(); ++i) {
        std::string cell = r.cells[i];
        if (i + 1 < r.cells.size()) cell += std::string(width[i] + gap_ - cell.size(), ' ');
        const char* c = i < r.colors.size() ? r.colors[i] : nullptr;
        line += c != nullptr ? Paint(color, c, cell) : cell;
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out += line + "\n";
    }
    return out;
  }

 private:
  struct Row {
    std::vector<std::string> cells;
    std::vector<const char*> colors;
  };
  size_t gap_;
  std::vector<Row> rows_;
};

}  // namespace hf::cli

#endif  // HF_CLI_TABLE_H_
