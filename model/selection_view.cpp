#include "model/selection_view.h"

#include <cstdio>

namespace sra {

bool TokenView::is_critical() const {
  for (uint8_t c : critical)
    if (c) return true;
  return false;
}

std::string render_selection_text(const std::vector<TokenView>& tokens, bool colour) {
  std::string out;
  bool in_answer = false;
  for (const TokenView& t : tokens) {
    if (t.generated && !in_answer) {
      out += colour ? "\x1b[2m|\x1b[0m" : "|";  // where the answer starts
      in_answer = true;
    }
    if (!t.is_critical()) {
      out += t.text;
    } else if (colour) {
      out += "\x1b[7m" + t.text + "\x1b[0m";
    } else {
      out += "[" + t.text + "]";
    }
  }
  return out;
}

namespace {
std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\n':
        o += "<br>\n";
        break;
      default:
        o += c;
    }
  }
  return o;
}
}  // namespace

std::string render_selection_html(const std::vector<TokenView>& tokens, const std::string& title,
                                  const std::string& summary) {
  std::string out =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
      "</title>\n<style>body{font-family:monospace;max-width:60em;margin:2em auto;line-height:1.6}"
      ".c{background:#ffd54f;border-radius:3px}.g{color:#1565c0}.p{color:#333}"
      "span{white-space:pre-wrap}</style></head><body>\n<h1>" +
      html_escape(title) + "</h1>\n<p>" + html_escape(summary) +
      "</p>\n<p>Highlighted: tokens kept as critical by at least one SRA layer (hover for layers and "
      "scores). Blue: generated.</p>\n<div>";
  for (const TokenView& t : tokens) {
    std::string tip = "position " + std::to_string(t.position);
    for (size_t l = 0; l < t.critical.size(); ++l) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "; SRA layer %zu: %s, score %.3f", l, t.critical[l] ? "critical" : "-",
                    l < t.scores.size() ? t.scores[l] : 0.0);
      tip += buf;
    }
    std::string cls = std::string(t.generated ? "g" : "p") + (t.is_critical() ? " c" : "");
    out +=
        "<span class=\"" + cls + "\" title=\"" + html_escape(tip) + "\">" + html_escape(t.text) + "</span>";
  }
  return out + "</div>\n</body></html>\n";
}

}  // namespace sra
