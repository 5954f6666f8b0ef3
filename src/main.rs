fn main() -> std::process::ExitCode {
    lempctl::main()
}
