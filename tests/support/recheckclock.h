// For one test: the clock by which configurations look at their files again (at most once a
// second, see src/testhooks_p.h), moved on by the test instead of slept through. Needs the
// library's src/ directory on the include path.
#ifndef SECURESOCKET_TESTS_RECHECKCLOCK_H
#define SECURESOCKET_TESTS_RECHECKCLOCK_H

#include "testhooks_p.h"

#include <atomic>
#include <chrono>
#include <memory>

class RecheckClock
{
public:
    // A frozen clock moves only when the test says so: files are then looked at again only
    // when a second "passes" or when something (a reload) asks for it.
    explicit RecheckClock(bool frozen = false)
    {
        const auto start = std::chrono::steady_clock::now();
        securesocket::testing::setFileRecheckClock([offset = m_offset, frozen, start] {
            return (frozen ? start : std::chrono::steady_clock::now()) +
                   std::chrono::milliseconds(offset->load());
        });
    }
    ~RecheckClock() { securesocket::testing::setFileRecheckClock(nullptr); }
    RecheckClock(const RecheckClock &) = delete;
    RecheckClock &operator=(const RecheckClock &) = delete;

    // The next look at the files is due.
    void secondPasses() { *m_offset += 1100; }

private:
    std::shared_ptr<std::atomic<int>> m_offset = std::make_shared<std::atomic<int>>(0);
};

#endif
