#include "tests/agent/testing/temp_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace hf::agent::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  char tmpl[] = "/tmp/hfa-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return;
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) fs::remove_all(path_, ec);
}

void TempDir::WriteFile(const std::string& rel, const std::string& content) const {
  fs::create_directories(fs::path(Path(rel)).parent_path());
  std::ofstream(Path(rel)) << content;
}

void TempDir::MakeDirs(const std::string& rel) const { fs::create_directories(Path(rel)); }

void TempDir::Symlink(const std::string& target, const std::string& rel) const {
  fs::create_directories(fs::path(Path(rel)).parent_path());
  fs::create_symlink(target, Path(rel));
}

void TempDir::Remove(const std::string& rel) const { fs::remove_all(Path(rel)); }

bool TempDir::Exists(const std::string& rel) const {
  std::error_code ec;
  return fs::exists(fs::symlink_status(Path(rel), ec));
}

}  // namespace hf::agent::testing
