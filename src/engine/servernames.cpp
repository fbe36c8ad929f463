// The RFC 6125 matching of a client's server_name against the DNS names of our certificates, and
// the index a server context keeps of them.
#include "servernames.h"

#include <algorithm>

namespace securesocket::engine {

namespace {

char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

size_t labelCount(std::string_view name)
{
    return name.empty() ? 0 : static_cast<size_t>(std::count(name.begin(), name.end(), '.')) + 1;
}

// What a wildcard pattern stands for after "*.", or empty when pattern is no valid wildcard:
// '*' must be the whole left-most label, and at least two labels must follow it (a wildcard
// for every name under a top-level domain is refused, as browsers and OpenSSL do).
std::string_view wildcardSuffix(std::string_view pattern)
{
    if (pattern.size() < 3 || pattern[0] != '*' || pattern[1] != '.')
        return {};
    const std::string_view suffix = pattern.substr(2);
    if (suffix.find('*') != std::string_view::npos || labelCount(suffix) < 2 ||
        suffix.front() == '.' || suffix.find("..") != std::string_view::npos)
        return {};
    return suffix;
}

} // namespace

std::string normalizeServerName(std::string_view name)
{
    if (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    std::string out(name);
    std::transform(out.begin(), out.end(), out.begin(), lower);
    return out;
}

bool isIpAddressText(std::string_view name)
{
    if (name.find(':') != std::string_view::npos)
        return true; // IPv6; a DNS name never holds a colon
    if (name.empty() || labelCount(name) != 4)
        return false;
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
}

bool serverNameMatches(std::string_view pattern, std::string_view name)
{
    const std::string p = normalizeServerName(pattern);
    const std::string n = normalizeServerName(name);
    if (p.empty() || n.empty())
        return false;
    if (p == n)
        return true;
    const std::string_view suffix = wildcardSuffix(p);
    if (suffix.empty() || isIpAddressText(n))
        return false;
    // Exactly one label for the '*': the name's first label is not empty and the rest is the
    // suffix itself.
    const size_t dot = n.find('.');
    return dot != std::string::npos && dot > 0 && std::string_view(n).substr(dot + 1) == suffix;
}

void ServerNameIndex::append(std::vector<size_t> &items, size_t item)
{
    if (std::find(items.begin(), items.end(), item) == items.end())
        items.push_back(item);
}

void ServerNameIndex::add(std::string_view pattern, size_t item)
{
    const std::string p = normalizeServerName(pattern);
    if (p.empty())
        return;
    const std::string_view suffix = wildcardSuffix(p);
    if (suffix.empty())
        append(m_exact[p], item);
    else
        append(m_wildcard[std::string(suffix)], item);
}

const std::vector<size_t> *ServerNameIndex::find(std::string_view name) const
{
    const std::string n = normalizeServerName(name);
    if (n.empty())
        return nullptr;
    if (const auto it = m_exact.find(n); it != m_exact.end())
        return &it->second;
    if (isIpAddressText(n))
        return nullptr;
    const size_t dot = n.find('.');
    if (dot == std::string::npos || dot == 0)
        return nullptr;
    const auto it = m_wildcard.find(n.substr(dot + 1));
    return it == m_wildcard.end() ? nullptr : &it->second;
}

} // namespace securesocket::engine
