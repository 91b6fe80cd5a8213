// The version-independent interface between the Nix API shim (nix_api_*.cc) and the
// Rust renderer. Nothing here includes a Nix header, so every shim compiles against it.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace nixproc {

/// A rendering failure; its message is meant for the user as is.
struct RenderError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Renders one process spec (JSON text) into the renderer's JSON output.
/// Throws RenderError with the renderer's message on bad input.
std::string render(std::string_view specJson);

/// The Nix version this plugin was compiled against.
const char * compiledNixVersion();

/// Whether this plugin may register its primop inside Nix `runningVersion`.
bool nixVersionMatches(const std::string & runningVersion);

/// The deepest nesting of lists and attribute sets accepted in a spec.
constexpr int maxSpecDepth = 64;

/// Appends `s` to `out` as a JSON string literal (bytes >= 0x80 are copied unchanged).
void appendJsonString(std::string & out, std::string_view s);

} // namespace nixproc
