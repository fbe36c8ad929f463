// The strict PEM scanner and decoder: line by line, every block's label, body and END checked,
// each error named by block and line.
#include "pem.h"

#include <map>

namespace securesocket::engine::pem {

namespace {

constexpr std::string_view kBegin = "-----BEGIN ";
constexpr std::string_view kEnd = "-----END ";
constexpr std::string_view kDashes = "-----";

bool isSpace(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

// Control characters other than white space do not occur in a PEM text: they mean a DER
// file, an archive or a half-written binary in place of the PEM file.
bool isBinary(unsigned char c)
{
    return (c < 0x20 && c != '\n' && !isSpace(static_cast<char>(c))) || c == 0x7f;
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && isSpace(s.back()))
        s.remove_suffix(1);
    while (!s.empty() && isSpace(s.front()))
        s.remove_prefix(1);
    return s;
}

bool startsWith(std::string_view s, std::string_view prefix)
{
    return s.substr(0, prefix.size()) == prefix;
}

int base64Value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

// The label of a "-----BEGIN LABEL-----" or "-----END LABEL-----" line; empty if malformed.
std::string_view labelOf(std::string_view line, std::string_view prefix)
{
    if (!startsWith(line, prefix) || line.size() < prefix.size() + kDashes.size() ||
        line.substr(line.size() - kDashes.size()) != kDashes)
        return {};
    const std::string_view label =
        line.substr(prefix.size(), line.size() - prefix.size() - kDashes.size());
    if (label.empty() || label.front() == ' ' || label.back() == ' ' || label.front() == '-' ||
        label.back() == '-')
        return {};
    return label;
}

// The base64 body of one block, line by line: checks it (count, padding) as it goes.
class Body
{
public:
    // False if line is not part of a valid base64 body.
    bool add(std::string_view line)
    {
        for (const char c : line) {
            if (c == '=') {
                ++m_padding;
            } else if (base64Value(c) < 0 || m_padding > 0) {
                return false; // not base64, or data after the padding
            }
            ++m_count;
        }
        return m_padding <= 2;
    }
    bool complete() const { return m_count > 0 && m_count % 4 == 0; }

private:
    size_t m_count = 0;
    size_t m_padding = 0;
};

struct Line
{
    std::string_view text; // without the line break
    size_t begin = 0;
    size_t next = 0; // offset of the next line
};

Line lineAt(std::string_view text, size_t pos)
{
    const size_t newline = text.find('\n', pos);
    const size_t stop = newline == std::string_view::npos ? text.size() : newline;
    return {text.substr(pos, stop - pos), pos, newline == std::string_view::npos ? stop : stop + 1};
}

} // namespace

std::string kindOf(const std::string &label)
{
    if (isCertificateLabel(label))
        return "certificate";
    if (isPrivateKeyLabel(label))
        return "private key";
    if (label == "X509 CRL")
        return "CRL";
    return "PEM block '" + label + "'";
}

bool isCertificateLabel(const std::string &label)
{
    return label == "CERTIFICATE" || label == "X509 CERTIFICATE" || label == "TRUSTED CERTIFICATE";
}

bool isPrivateKeyLabel(const std::string &label)
{
    const std::string suffix = "PRIVATE KEY";
    return label.size() >= suffix.size() &&
           label.compare(label.size() - suffix.size(), suffix.size(), suffix) == 0;
}

ScanResult scan(std::string_view text)
{
    enum class State { Outside, FirstLine, Headers, Body };
    ScanResult result;
    const auto fail = [&result](std::string message) {
        result.blocks.clear();
        result.error = std::move(message);
        return result;
    };
    std::map<std::string, int> counts; // blocks of each kind so far, for their names
    State state = State::Outside;
    Block block;
    Body body;
    size_t textAfterEnd = 0; // line of the first text after the last END line, 0 if none
    size_t lineNumber = 0;
    for (size_t pos = 0; pos < text.size();) {
        const Line line = lineAt(text, pos);
        pos = line.next;
        ++lineNumber;
        const std::string where = "line " + std::to_string(lineNumber);
        const std::string inBlock = state == State::Outside ? std::string() : block.name + ": ";
        for (const char c : line.text) {
            if (isBinary(static_cast<unsigned char>(c)))
                return fail(inBlock + where + ": binary data (not a PEM text)");
        }
        const std::string_view trimmed = trim(line.text);

        if (state == State::Outside) {
            if (startsWith(trimmed, kBegin)) {
                const std::string_view label = labelOf(trimmed, kBegin);
                if (label.empty())
                    return fail(where + ": malformed BEGIN line");
                block = Block();
                block.label = std::string(label);
                block.line = lineNumber;
                block.begin = line.begin;
                const std::string kind = kindOf(block.label);
                block.name = kind;
                if (!startsWith(kind, "PEM block")) // other labels are named, not counted
                    block.name += " " + std::to_string(++counts[kind]);
                block.name += ", " + where;
                body = Body();
                state = State::FirstLine;
                textAfterEnd = 0;
            } else if (startsWith(trimmed, "-----END")) {
                return fail(where + ": END line with no BEGIN line before it");
            } else if (!trimmed.empty() && textAfterEnd == 0) {
                textAfterEnd = lineNumber;
            }
            continue;
        }

        if (startsWith(trimmed, "-----END")) {
            if (labelOf(trimmed, kEnd) != block.label)
                return fail(inBlock + where + ": '" + std::string(trimmed) + "' does not end a '" +
                            block.label + "' block");
            if (state == State::Headers)
                return fail(inBlock + "no blank line after its headers");
            if (!body.complete())
                return fail(inBlock + "the base64 data is empty or cut short");
            block.end = line.next;
            result.blocks.push_back(block);
            state = State::Outside;
            continue;
        }
        if (startsWith(trimmed, "-----BEGIN"))
            return fail(inBlock + "no END line before the next BEGIN line, at " + where +
                        " (the block is cut short)");
        if (state == State::FirstLine) {
            state = State::Body;
            if (trimmed.find(':') != std::string_view::npos) {
                block.headers = true;
                state = State::Headers;
                continue;
            }
        }
        if (state == State::Headers) {
            // Headers end with a blank line; a line starting with white space continues one.
            if (trimmed.empty())
                state = State::Body;
            else if (trimmed.find(':') == std::string_view::npos && !isSpace(line.text.front()))
                return fail(inBlock + where + ": malformed header");
            continue;
        }
        if (!body.add(trimmed))
            return fail(inBlock + where + ": not base64");
    }
    if (state != State::Outside)
        return fail(block.name + ": no END line (the text is cut short)");
    if (!result.blocks.empty() && textAfterEnd != 0)
        return fail("line " + std::to_string(textAfterEnd) + ": text after the last PEM block");
    return result;
}

std::string decode(std::string_view text, const Block &block)
{
    if (block.end > text.size() || block.begin >= block.end)
        return {};
    std::string_view rest = text.substr(block.begin, block.end - block.begin);
    rest.remove_prefix(lineAt(rest, 0).next); // the BEGIN line
    if (block.headers) {
        size_t pos = 0;
        while (pos < rest.size() && !trim(lineAt(rest, pos).text).empty())
            pos = lineAt(rest, pos).next;
        rest.remove_prefix(pos);
    }
    std::string der;
    unsigned bits = 0;
    int count = 0;
    for (const char c : rest.substr(0, rest.find(kEnd))) {
        const int value = base64Value(c);
        if (value < 0)
            continue; // line breaks, white space and the padding
        bits = (bits << 6) | static_cast<unsigned>(value);
        count += 6;
        if (count >= 8) {
            count -= 8;
            der.push_back(static_cast<char>((bits >> count) & 0xff));
        }
    }
    return der;
}

} // namespace securesocket::engine::pem
