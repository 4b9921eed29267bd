// Encodes replies the proxy writes itself (errors, PONG, HELLO maps, nil EXEC...) in the
// client's protocol version: RESP2 has no null/map/push types, RESP3 does.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace sp::protocol {

enum class RespVersion : std::uint8_t { resp2 = 2, resp3 = 3 };

namespace reply {
void error(std::string& out,
           std::string_view message);  // "-message\r\n" (message includes the code, e.g. "ERR ...")
void status(std::string& out, std::string_view text);    // "+text\r\n"
void integer(std::string& out, std::int64_t value);      // ":n\r\n"
void bulk(std::string& out, std::string_view value);     // "$len\r\n...\r\n"
void null(std::string& out, RespVersion v);              // "$-1\r\n" or "_\r\n"
void null_array(std::string& out, RespVersion v);        // "*-1\r\n" or "_\r\n"
void array_header(std::string& out, std::size_t count);  // "*n\r\n"
// A command as a client sends it (array of bulks), for the commands the proxy sends itself.
void command(std::string& out, const std::vector<std::string>& argv);
std::string command(const std::vector<std::string>& argv);
void map_header(std::string& out, std::size_t pairs, RespVersion v);   // "%n" or "*2n"
void push_header(std::string& out, std::size_t count, RespVersion v);  // ">n" or "*n"
// Encodes a command as a multibulk request (for commands the proxy itself sends).
void command(std::string& out, std::initializer_list<std::string_view> argv);
}  // namespace reply

}  // namespace sp::protocol
