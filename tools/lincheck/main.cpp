// main.cpp — the synod-lincheck program (DESIGN §7).
//
//   synod-lincheck [--format jepsen|edn|jsonl] [--model register|keys|kv|lock]
//                  [--budget-ms N] [--memory-mb N] FILE
//   synod-lincheck [--budget-ms N] [--memory-mb N] --labels DIR [DIR ...]
//
// FILE mode prints, as its last line, {"verdict":...,"operations":N,"seconds":S,"path":P} and exits 0 when
// linearizable, 1 when not, 2 when unknown or the input is bad (with the reason on stderr).
// --labels mode checks every file DIR/labels.tsv lists against its label, prints the agreement and
// the time per set (total and slowest file), and exits 0 only when every verdict agrees.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/lincheck/formats.h"
#include "tools/lincheck/lincheck.h"

namespace {

using namespace synod::lincheck;

constexpr int exit_linearizable = 0;
constexpr int exit_not_linearizable = 1;
constexpr int exit_unknown = 2;
constexpr std::int64_t memory_mb_max = std::int64_t{1} << 20;
constexpr std::size_t labels_files_max = 100'000;

constexpr const char* usage =
    "usage: synod-lincheck [--format jepsen|edn|jsonl] [--model register|keys|kv|lock]\n"
    "                      [--budget-ms N] [--memory-mb N] FILE\n"
    "       synod-lincheck [--budget-ms N] [--memory-mb N] --labels DIR [DIR ...]\n"
    "Checks a history for linearizability. The last line of output is\n"
    "{\"verdict\":\"linearizable\"|\"not-linearizable\"|\"unknown\",\"operations\":N,\"seconds\":S,\n"
    " \"path\":\"unique-values\"|\"search\"|\"mixed\"|\"none\"} (which path decided it).\n"
    "Exit status: 0 linearizable, 1 not linearizable, 2 unknown or bad input.\n"
    "The format is detected unless given. The model defaults to register for Jepsen logs, kv for\n"
    "EDN, and for JSON lines follows the functions used (docs/history-format.md).\n"
    "--labels checks every file listed in DIR/labels.tsv against its label and reports the time.\n";

struct Options {
  std::optional<Format> format;
  std::optional<ModelKind> model;
  Budget budget;
  std::vector<std::string> label_dirs;
  std::string file;
  bool help = false;
};

std::optional<std::int64_t> positive_integer(std::string_view text) {
  std::int64_t number = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc{} || end != text.data() + text.size() || number <= 0) return std::nullopt;
  return number;
}

std::string apply_option(std::string_view name, std::string_view value, Options& options) {
  if (name == "--format") {
    options.format = format_from_name(value);
    if (!options.format) return "--format must be jepsen, edn or jsonl";
  } else if (name == "--model") {
    options.model = model_from_name(value);
    if (!options.model) return "--model must be register, keys, kv or lock";
  } else if (name == "--budget-ms") {
    std::optional<std::int64_t> ms = positive_integer(value);
    if (!ms || *ms > budget_time_ms_limit) return "--budget-ms must be a positive number of milliseconds";
    options.budget.time_ms_max = *ms;
  } else if (name == "--memory-mb") {
    std::optional<std::int64_t> mb = positive_integer(value);
    if (!mb || *mb > memory_mb_max) return "--memory-mb must be a positive number of megabytes";
    options.budget.memory_bytes_max = static_cast<std::size_t>(*mb) << 20;
  } else {
    return "unknown option " + std::string(name);
  }
  return "";
}

std::string parse_options(const std::vector<std::string_view>& arguments, Options& options) {
  bool labels = false;
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    std::string_view argument = arguments[i];
    if (argument == "--help" || argument == "-h") {
      options.help = true;
    } else if (argument == "--labels") {
      labels = true;
    } else if (argument.starts_with("--") && !labels) {
      if (i + 1 == arguments.size()) return std::string(argument) + " needs a value";
      if (std::string error = apply_option(argument, arguments[++i], options); !error.empty()) return error;
    } else if (labels) {
      options.label_dirs.emplace_back(argument);
    } else if (options.file.empty()) {
      options.file = argument;
    } else {
      return "only one FILE, please";
    }
  }
  if (options.help) return "";
  if (labels && options.label_dirs.empty()) return "--labels needs at least one DIR";
  if (!labels && options.file.empty()) return "no FILE given";
  return "";
}

ModelKind default_model(Format format, const History& history, std::string& error) {
  if (format == Format::jepsen) return ModelKind::cas_register;
  if (format == Format::edn) return ModelKind::kv;
  std::optional<ModelKind> model = infer_model(history);
  if (!model) error = "cannot tell the model from the functions used; pass --model register|keys|kv|lock";
  return model.value_or(ModelKind::keys);
}

// A checked file: the result, or why the input is bad.
struct Outcome {
  CheckResult result;
  std::string error;
  double seconds = 0;  // reading, parsing and checking
};

// Reads, parses and checks one file; returns why the input is bad, or "".
std::string check_text(const std::string& path, const Options& options, CheckResult& result) {
  FileText file = read_file(path);
  if (!file.error.empty()) return file.error;
  std::optional<Format> format = options.format ? options.format : detect_format(file.text);
  if (!format) return path + ": not a Jepsen log, EDN or JSON-lines history (see --format)";
  ParseResult parsed = parse_history(file.text, *format);
  if (!parsed.ok()) return path + ": " + parsed.error;
  std::string error;
  ModelKind model = options.model ? *options.model : default_model(*format, parsed.history, error);
  if (!error.empty()) return path + ": " + error;
  result = check(parsed.history, model, options.budget);
  return result.error.empty() ? "" : path + ": " + result.error;
}

Outcome check_file(const std::string& path, const Options& options) {
  auto start = std::chrono::steady_clock::now();
  Outcome outcome;
  outcome.error = check_text(path, options, outcome.result);
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return outcome;
}

// DESIGN §7's three fields, then which path decided (lincheck.h).
void print_verdict_line(const char* verdict, std::size_t operations, double seconds, Path path) {
  std::printf("{\"verdict\":\"%s\",\"operations\":%zu,\"seconds\":%.6f,\"path\":\"%s\"}\n", verdict, operations,
              seconds, path_name(path));
  std::fflush(stdout);
}

int run_file(const Options& options) {
  Outcome outcome = check_file(options.file, options);
  if (!outcome.error.empty()) {
    std::fprintf(stderr, "synod-lincheck: %s\n", outcome.error.c_str());
    print_verdict_line("unknown", outcome.result.operations, outcome.seconds, Path::none);
    return exit_unknown;
  }
  const CheckResult& result = outcome.result;
  if (!result.explanation.empty()) std::fprintf(stderr, "synod-lincheck: %s\n", result.explanation.c_str());
  print_verdict_line(verdict_name(result.verdict), result.operations, outcome.seconds, result.path);
  if (result.verdict == Verdict::linearizable) return exit_linearizable;
  return result.verdict == Verdict::not_linearizable ? exit_not_linearizable : exit_unknown;
}

struct SetReport {
  std::string name;
  std::size_t files = 0;
  std::size_t agree = 0;
  double seconds_total = 0;
  double seconds_max = 0;
  std::string slowest;
};

std::string base_name(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Checks one labelled file and adds it to the report; prints a line for each disagreement.
void check_labelled(const std::string& dir, std::string_view name, std::string_view label, const Options& options,
                    SetReport& report) {
  Outcome outcome = check_file(dir + "/" + std::string(name), options);
  const char* verdict = outcome.error.empty() ? verdict_name(outcome.result.verdict) : "bad-input";
  ++report.files;
  if (label == verdict) {
    ++report.agree;
  } else {
    std::printf("DISAGREE %s/%s: label %s, verdict %s %s\n", report.name.c_str(), std::string(name).c_str(),
                std::string(label).c_str(), verdict, outcome.error.c_str());
  }
  report.seconds_total += outcome.seconds;
  if (outcome.seconds >= report.seconds_max) {
    report.seconds_max = outcome.seconds;
    report.slowest = name;
  }
}

std::string check_label_dir(const std::string& dir, const Options& options, SetReport& report) {
  report.name = base_name(dir);
  FileText labels = read_file(dir + "/labels.tsv");
  if (!labels.error.empty()) return labels.error;
  std::string_view text = labels.text;
  while (!text.empty() && report.files < labels_files_max) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    std::size_t tab = line.find('\t');
    if (tab == std::string_view::npos) return dir + "/labels.tsv: expected \"file<TAB>label\", got \"" + std::string(line) + "\"";
    check_labelled(dir, line.substr(0, tab), line.substr(tab + 1), options, report);
  }
  return "";
}

std::string json_string(std::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    quoted += c;
  }
  return quoted + "\"";
}

std::string fixed(double seconds) {
  char text[64];
  std::snprintf(text, sizeof text, "%.6f", seconds);
  return text;
}

int run_labels(const Options& options) {
  std::vector<SetReport> reports(options.label_dirs.size());
  for (std::size_t i = 0; i < reports.size(); ++i) {
    if (std::string error = check_label_dir(options.label_dirs[i], options, reports[i]); !error.empty()) {
      std::fprintf(stderr, "synod-lincheck: %s\n", error.c_str());
      return exit_unknown;
    }
  }
  std::size_t files = 0;
  std::size_t agree = 0;
  std::string sets;
  for (const SetReport& r : reports) {
    std::printf("%-14s %zu/%zu agree, total %.3f s, slowest %.4f s (%s)\n", r.name.c_str(), r.agree, r.files,
                r.seconds_total, r.seconds_max, r.slowest.c_str());
    if (!sets.empty()) sets += ',';
    sets += "{\"set\":" + json_string(r.name) + ",\"files\":" + std::to_string(r.files) +
            ",\"agree\":" + std::to_string(r.agree) + ",\"seconds_total\":" + fixed(r.seconds_total) +
            ",\"seconds_max\":" + fixed(r.seconds_max) + ",\"slowest\":" + json_string(r.slowest) + "}";
    files += r.files;
    agree += r.agree;
  }
  std::printf("{\"files\":%zu,\"agree\":%zu,\"sets\":[%s]}\n", files, agree, sets.c_str());
  return files == agree ? exit_linearizable : exit_not_linearizable;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> arguments(argv + 1, argv + argc);
  Options options;
  if (std::string error = parse_options(arguments, options); !error.empty()) {
    std::fprintf(stderr, "synod-lincheck: %s\n%s", error.c_str(), usage);
    print_verdict_line("unknown", 0, 0.0, Path::none);
    return exit_unknown;
  }
  if (options.help) {
    std::fputs(usage, stdout);
    return 0;
  }
  return options.label_dirs.empty() ? run_file(options) : run_labels(options);
}
