fn main() {
    println!("gateway up");
}
