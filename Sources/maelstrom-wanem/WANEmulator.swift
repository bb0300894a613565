@main struct WANEmulatorPlaceholder { static func main() {} }
