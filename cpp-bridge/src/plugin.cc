// Version-independent half of the plugin: the call into Rust through cxx, the record of the
// Nix version compiled against, and JSON string escaping. Knows nothing of Nix's C++ API.
#include "bridge.hh"
#include "nixproc-sysvinit-plugin/src/lib.rs.h"
#include "rust/cxx.h"

#include <cstring>

#ifndef NIXPROC_NIX_VERSION
#error "NIXPROC_NIX_VERSION must be defined by the build (the Nix version of the headers)"
#endif

#define NIXPROC_VERSION_MARKER "nixproc-sysvinit-plugin:nix-version="

// The version lives in a writable, exported buffer rather than a constant so that it is read
// at run time and can be found in the binary (the tests patch a copy to simulate a plugin
// built for another Nix).
extern "C" {
__attribute__((used, visibility("default"))) char nixproc_compiled_nix_version[64] =
    NIXPROC_VERSION_MARKER NIXPROC_NIX_VERSION;
}

namespace nixproc {

namespace {

std::vector<RenderedFile> files(const rust::Vec<ffi::NamedText> & in)
{
    std::vector<RenderedFile> out;
    out.reserve(in.size());
    for (auto & f : in)
        out.push_back({std::string(f.name), std::string(f.text)});
    return out;
}

} // namespace

namespace {

rust::Slice<const uint8_t> bytesOf(std::string_view text)
{
    return {reinterpret_cast<const uint8_t *>(text.data()), text.size()};
}

} // namespace

void check(std::string_view specJson)
{
    try {
        ffi::check_spec(bytesOf(specJson));
    } catch (const rust::Error & e) {
        throw RenderError(e.what());
    }
}

Rendered render(std::string_view specJson)
{
    ffi::Rendered r;
    try {
        r = ffi::render_spec(bytesOf(specJson));
    } catch (const rust::Error & e) {
        throw RenderError(e.what());
    }
    Rendered out;
    out.name = std::string(r.name);
    out.script = std::string(r.script);
    out.sequence = r.sequence;
    out.stopSequence = r.stop_sequence;
    out.links.reserve(r.links.size());
    for (auto & l : r.links)
        out.links.push_back({std::string(l.path), std::string(l.target)});
    out.groups = files(r.groups);
    out.users = files(r.users);
    out.manifest = std::string(r.manifest);
    out.runtimeFiles = files(r.runtime_files);
    out.files = files(r.files);
    return out;
}

const char * compiledNixVersion()
{
    return nixproc_compiled_nix_version + std::strlen(NIXPROC_VERSION_MARKER);
}

bool nixVersionMatches(const std::string & runningVersion)
{
    return ffi::nix_version_matches(compiledNixVersion(), runningVersion);
}

bool isProcessList(std::string_view path)
{
    return ffi::is_process_list(rust::Str(path.data(), path.size()));
}

std::string withProcessName(const std::string & message, const std::string & process)
{
    if (message.rfind("process ", 0) == 0) return message;
    return "process '" + process + "': " + message;
}

void appendJsonString(std::string & out, std::string_view s)
{
    static const char hex[] = "0123456789abcdef";
    out.push_back('"');
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (u < 0x20 || u == 0x7f) {
                out += "\\u00";
                out.push_back(hex[u >> 4]);
                out.push_back(hex[u & 0xf]);
            } else {
                out.push_back(c);
            }
        }
    }
    out.push_back('"');
}

} // namespace nixproc
