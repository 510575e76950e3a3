// GSM8K and MATH rows → training examples (data/example.h).
//   GSM8K {question, answer}: prompt "Question: {question}\nAnswer:", target " {answer}" (the reference
//     reasoning, calculator annotations included, ending "#### N"); answer = the text after the last
//     "####", stripped. An answer without "####" is an error.
//   MATH {problem, solution, answer, ...}: prompt "Problem: {problem}\nSolution:", target " {solution}";
//     answer = the "answer" field. Other fields (subject, level, unique_id) are ignored.
//   A missing or non-string field throws "[data] missing string field 'question'" (or "... 'question'
//   must be a string, got int"); the loaders prefix FILE:LINE (data/jsonl.h), and skip_bad_lines skips
//   such rows as it skips malformed JSON.
#pragma once
#include <string>
#include <vector>

#include "core/json.h"
#include "data/example.h"
#include "data/jsonl.h"

namespace sra {

struct LoadedExamples {
  std::vector<TextExample> examples;
  JsonlStats stats;
};

TextExample gsm8k_example(const Json& row);
TextExample math_example(const Json& row);

LoadedExamples load_gsm8k(const std::string& path, const JsonlOptions& opt = {});
LoadedExamples load_math(const std::string& path, const JsonlOptions& opt = {});

}  // namespace sra
