// ctl_commands.hpp: infra_ext_ctl's commands and their help texts. Each run_* takes the
// arguments after the command name and returns the exit code; it throws UsageError /
// Refused (ctl_common.hpp) or core::Error, which main turns into messages and codes.
#pragma once

#include <string>
#include <vector>

namespace infra::ctl {

int run_archive_get(const std::vector<std::string>& args);
int run_plan(const std::vector<std::string>& args);
int run_restore(const std::vector<std::string>& args);
int run_verify(const std::vector<std::string>& args);

extern const char* const kMainHelp;
extern const char* const kArchiveGetHelp;
extern const char* const kPlanHelp;
extern const char* const kRestoreHelp;
extern const char* const kVerifyHelp;

}  // namespace infra::ctl
