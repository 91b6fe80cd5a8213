// The version-independent interface between the Nix bridge (nix_bridge.cc) and the
// Rust renderer. Nothing here includes a Nix header, so the bridge compiles against it for
// every Nix version.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace nixproc {

/// A rendering failure; its message is meant for the user as is.
struct RenderError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// One rc.d symlink, relative to etc/rc.d.
struct RenderedLink {
    std::string path;
    std::string target;
};

/// One credential file: the group or user name and the file's text.
struct RenderedFile {
    std::string name;
    std::string text;
};

/// The rendering of one process; fields as in the renderer's output contract.
struct Rendered {
    std::string name;
    std::string script;
    unsigned sequence = 0;
    unsigned stopSequence = 0;
    std::vector<RenderedLink> links;
    std::vector<RenderedFile> groups;
    std::vector<RenderedFile> users;
    std::string manifest;
    /// Claims on run-time files: claim file name (below share/nixproc-sysvinit/
    /// runtime-files) and text.
    std::vector<RenderedFile> runtimeFiles;
    /// Further files of the tree: path relative to it and text.
    std::vector<RenderedFile> files;
};

/// Renders one process spec (JSON text).
/// Throws RenderError with the renderer's message on bad input.
Rendered render(std::string_view specJson);

/// Checks one process spec (JSON text) as `render` would, without rendering it.
/// Throws RenderError with the renderer's message on bad input.
void check(std::string_view specJson);

/// The Nix version this plugin was compiled against.
const char * compiledNixVersion();

/// Whether this plugin may register its primop inside Nix `runningVersion`.
bool nixVersionMatches(const std::string & runningVersion);

/// Whether the spec attribute at `path` holds a list of other processes (their
/// derivations pass on only their names and sequence); the renderer says which.
bool isProcessList(std::string_view path);

/// The deepest nesting of lists and attribute sets accepted in a spec.
constexpr int maxSpecDepth = 64;

/// `message`, prefixed with "process 'NAME': " unless it already names a process.
std::string withProcessName(const std::string & message, const std::string & process);

/// Appends `s` to `out` as a JSON string literal (bytes >= 0x80 are copied unchanged).
void appendJsonString(std::string & out, std::string_view s);

} // namespace nixproc
