// TempDir: a fresh directory under /tmp for one test, removed with
// everything in it afterwards. Paths are short because unix socket paths
// are limited to 107 bytes. Helpers build fake /dev and /sys trees.
#ifndef HF_TESTS_AGENT_TESTING_TEMP_DIR_H_
#define HF_TESTS_AGENT_TESTING_TEMP_DIR_H_

#include <string>

namespace hf::agent::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();

  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/rel
  std::string Path(const std::string& rel) const { return path_ + "/" + rel; }

  // Creates parents as needed.
  void WriteFile(const std::string& rel, const std::string& content = "") const;
  void MakeDirs(const std::string& rel) const;
  void Symlink(const std::string& target, const std::string& rel) const;
  void Remove(const std::string& rel) const;  // recursive
  bool Exists(const std::string& rel) const;

 private:
  std::string path_;
};

}  // namespace hf::agent::testing

#endif  // HF_TESTS_AGENT_TESTING_TEMP_DIR_H_
